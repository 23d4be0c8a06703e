"""AWS CDK app of the fruit-photo feature pipeline: one construct per concern, one stack."""
