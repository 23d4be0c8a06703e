package bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.regex.Pattern;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;

/**
 * The local file system, waiting before it opens a photo: an object store's time to first byte for
 * Spark's binaryFile source (the read path before this branch). The wait in milliseconds is read, at
 * every open, from the file named by the LATENCY_MS_FILE environment variable, so that one Spark
 * session can be measured at several waits. Registered as fs.file.impl by bench/read_latency.py.
 */
public class LatencyLocalFileSystem extends LocalFileSystem {
  private static final Pattern PHOTO = Pattern.compile("(?i)\\.(jpe?g|png)$");

  @Override
  public FSDataInputStream open(Path path, int bufferSize) throws IOException {
    if (PHOTO.matcher(path.getName()).find()) {
      long wait = waitMs();
      if (wait > 0) {
        try {
          Thread.sleep(wait);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException(e);
        }
      }
    }
    return super.open(path, bufferSize);
  }

  private static long waitMs() throws IOException {
    String file = System.getenv("LATENCY_MS_FILE");
    return file == null ? 0 : Long.parseLong(Files.readString(Paths.get(file)).trim());
  }
}
