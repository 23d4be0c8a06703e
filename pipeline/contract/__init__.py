"""What the job, the cloud client and infra/ agree on: the execution input and its Step Functions
rendering, the deployment's name and region, the EMR release, prices, the code digest, `InputError`
and shared argument types. Plain Python, standard library only.

May import: nothing of pipeline outside itself.
"""
