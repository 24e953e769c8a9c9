"""moto's server, with the AWS-managed IAM policies a node role uses and no others.

Usage: python3 sandbox/moto_server.py [moto_server's arguments, e.g. -H 127.0.0.1 -p 5000]

moto creates every AWS-managed policy it knows (about 1,600, AWS's own documents) in each account the first
time that account touches IAM, when MOTO_IAM_LOAD_MANAGED_POLICIES is true. The sandbox gives every test its
own account, so that cost (0.75 to 1.8 s of moto's one core per account, measured) was paid once per test.
The node roles of the sandbox's worlds attach only EKS, ECR and SSM policies; those keep AWS's documents and
ARNs (arn:aws:iam::aws:policy/<name>), and attaching any other AWS-managed policy fails as NoSuchEntity.
"""

import json
import os
import sys

# The families a node role's policies come from (AmazonEKSWorkerNodePolicy, AmazonEKS_CNI_Policy,
# AmazonEC2ContainerRegistryReadOnly, AmazonSSMManagedInstanceCore, ...).
KEPT_PREFIXES = ("AmazonEKS", "AmazonEC2ContainerRegistry", "AmazonSSMManagedInstanceCore")


def kept_policies(all_policies_json):
    """moto's AWS-managed policy table (JSON text) reduced to the kept families, as JSON text."""
    policies = json.loads(all_policies_json)
    return json.dumps({name: doc for name, doc in policies.items() if name.startswith(KEPT_PREFIXES)})


def main():
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    import moto.iam.models as iam_models

    # IAMBackend reads this module global each time it sets up an account.
    iam_models.aws_managed_policies_data = kept_policies(iam_models.aws_managed_policies_data)
    from moto.server import main as moto_main

    sys.argv[0] = "moto_server"
    return moto_main()


if __name__ == "__main__":
    sys.exit(main())
