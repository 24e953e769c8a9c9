"""moto's server, with the AWS-managed IAM policies a node role uses and no others, and moto's own AMI list
without the per-Region "latest" AMI lists.

Usage: python3 sandbox/moto_server.py [moto_server's arguments, e.g. -H 127.0.0.1 -p 5000]

moto creates every AWS-managed policy it knows (about 1,600, AWS's own documents) in each account the first
time that account touches IAM, when MOTO_IAM_LOAD_MANAGED_POLICIES is true. The sandbox gives every test its
own account, so that cost (0.75 to 1.8 s of moto's one core per account, measured) was paid once per test.
The node roles of the sandbox's worlds attach only EKS, ECR and SSM policies; those keep AWS's documents and
ARNs (arn:aws:iam::aws:policy/<name>), and attaching any other AWS-managed policy fails as NoSuchEntity.

In the same way, each new account's EC2 backend creates every AMI moto knows for its Region, about 1,300 of
them (the per-Region latest and ECS-optimised lists), each with a volume and a snapshot. With MOTO_AMIS_PATH
set, moto loads that file's AMIs instead and skips the per-Region lists. This launcher points it at moto's
own default list (a few dozen AMIs, the EKS-optimised `amazon-eks-node-linux` the worlds launch among them).

Four answers moto's server recomputes on every request, or every cluster and nodegroup it creates, are
remembered instead (`remember_static_answers`): the list of moto's service packages (a directory listing,
which routes each request), the names of a response class's methods (which pick its handler), the
partitions a role ARN may name (a new botocore session each time), and which account an access key belongs
to (a scan of every account moto knows, in every partition, per request). The first three cannot change
while the server runs; the last is checked against the account it names before it is used. Together they
took about a quarter of moto's samples over a run of tests/scenarios.rs (py-spy), and the scan grows with
every account, so a server that outlives one test binary (scripts/run_tests.py) would slow down without it.
Its one log line per request (werkzeug's) is not written either: errors still are.
The moto version is pinned (requirements-dev.txt); a moto without these functions starts unpatched.
"""

import functools
import json
import logging
import os
import sys
import tempfile
from importlib.metadata import version

# The families a node role's policies come from (AmazonEKSWorkerNodePolicy, AmazonEKS_CNI_Policy,
# AmazonEC2ContainerRegistryReadOnly, AmazonSSMManagedInstanceCore, ...).
KEPT_PREFIXES = ("AmazonEKS", "AmazonEC2ContainerRegistry", "AmazonSSMManagedInstanceCore")


def kept_policies(all_policies_json):
    """moto's AWS-managed policy table (JSON text) reduced to the kept families, as JSON text."""
    policies = json.loads(all_policies_json)
    return json.dumps({name: doc for name, doc in policies.items() if name.startswith(KEPT_PREFIXES)})


def use_default_amis_only():
    """Points MOTO_AMIS_PATH (unless set) at moto's default AMI list, written once into the Python prefix (the
    workspace's .venv; else the temporary directory): moto ships that list compressed, and reads MOTO_AMIS_PATH
    as plain JSON when moto.ec2 loads."""
    if "MOTO_AMIS_PATH" in os.environ:
        return
    from moto.utilities.utils import load_resource

    directory = sys.prefix if os.access(sys.prefix, os.W_OK) else tempfile.gettempdir()
    path = os.path.join(directory, f"moto-{version('moto')}-default-amis.json")
    if not os.path.exists(path):
        # Test binaries start their moto servers concurrently: write aside, then rename into place.
        with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False, encoding="utf-8") as f:
            json.dump(load_resource("ec2/resources/amis.json"), f)
        os.replace(f.name, path)
    os.environ["MOTO_AMIS_PATH"] = path


def remember_static_answers():
    """Caches what moto's server recomputes per request although it cannot change while it runs."""
    import boto3
    import moto.backends as backends
    import moto.core.responses as responses
    import moto.eks.utils as eks_utils
    import moto.iam.models as iam_models

    if hasattr(backends, "list_of_moto_modules"):
        modules = tuple(backends.list_of_moto_modules())
        backends.list_of_moto_modules = lambda: modules
    if hasattr(responses, "method_names_from_class"):
        responses.method_names_from_class = functools.cache(responses.method_names_from_class)
    if hasattr(eks_utils, "Session"):
        session = boto3.session.Session()
        eks_utils.Session = lambda: session
    if hasattr(iam_models, "get_account_id_from"):
        iam_models.get_account_id_from = account_of_access_key(iam_models)


def account_of_access_key(iam_models):
    """moto's get_account_id_from, remembering each key's account; a remembered account is used only while
    the key is still one of its access keys (a key deleted, or a server reset, scans again)."""
    scan = iam_models.get_account_id_from
    known = {}

    def still_there(account_id, access_key):
        account = iam_models.iam_backends.get(account_id)
        if account is None:
            return False
        return any(access_key in backend.access_keys for backend in list(account.values()))

    def get_account_id_from(access_key):
        account_id = known.get(access_key)
        if account_id is not None and still_there(account_id, access_key):
            return account_id
        account_id = scan(access_key)
        if account_id != iam_models.DEFAULT_ACCOUNT_ID:
            known[access_key] = account_id
        return account_id

    return get_account_id_from


def main():
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    use_default_amis_only()
    remember_static_answers()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    import moto.iam.models as iam_models

    # IAMBackend reads this module global each time it sets up an account.
    iam_models.aws_managed_policies_data = kept_policies(iam_models.aws_managed_policies_data)
    from moto.server import main as moto_main

    sys.argv[0] = "moto_server"
    return moto_main()


if __name__ == "__main__":
    sys.exit(main())
