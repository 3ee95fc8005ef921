"""``make package``'s last step: what ``chalice package --merge-template`` cannot express.

Run on the output directory (``build/package``) after chalice wrote ``sam.json`` and
``deployment.zip``:

* every function with an SQS event source ``DependsOn`` the queues (chalice names the queue by
  ARN, not ``Ref``: without it the mapping can be created before its queue on the first deploy);
* the host protocol's second front: the function ``HostFront`` (handler ``host_front.handler``,
  the same code zip, runtime, environment and role as the API's handler, 256 MB, 10 s), its
  ``AWS::Lambda::Url`` (``AuthType: AWS_IAM``) and the outputs ``HostFrontURL`` and
  ``HostFrontFunctionArn`` (what a host's IAM policy names). They live here, not in
  ``infra/resources.json``, because their settings are the API handler's that chalice generates,
  and the local emulator (``infra/stack.py``) creates no functions;
* every function logs JSON at WARN and above (``LoggingConfig``): Lambda's own START, END and
  REPORT lines, three a poll, are not written to CloudWatch Logs (billed per GB ingested);
  fabu's warnings and errors are;
* ``host_front.py`` added to ``deployment.zip`` (chalice ships only ``app.py`` and
  ``chalicelib/`` of the project's own files).
"""
import json
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDLER_MODULE = "host_front.py"
HOST_FRONT = "HostFront"
HOST_FRONT_URL = "HostFrontUrl"
MEMORY_MB = 256
TIMEOUT_SECONDS = 10
#: What the host front takes over from the API's handler as chalice generated it.
_SHARED_PROPERTIES = ("Runtime", "CodeUri", "Architectures", "Tracing", "Tags", "Environment", "Role")


def queues_first(template: dict) -> None:
    """Functions fed by SQS wait for every queue of the template."""
    resources = template["Resources"]
    queues = sorted(k for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue")
    for resource in resources.values():
        events = resource.get("Properties", {}).get("Events", {})
        if any(event["Type"] == "SQS" for event in events.values()):
            resource.setdefault("DependsOn", queues)


def add_host_front(template: dict) -> None:
    """The Function URL front of the host protocol (see the module docstring)."""
    resources, outputs = template["Resources"], template.setdefault("Outputs", {})
    api = resources["APIHandler"]["Properties"]
    properties = {name: api[name] for name in _SHARED_PROPERTIES if name in api}
    properties.update({"Handler": "host_front.handler", "MemorySize": MEMORY_MB,
                       "Timeout": TIMEOUT_SECONDS,
                       "Description": "fabu host protocol on a Function URL: GET /api/v1/{host}, "
                                      "GET /api/v1/{host}/deploy, POST /api/v1/{host}/report"})
    resources[HOST_FRONT] = {"Type": "AWS::Serverless::Function", "Properties": properties}
    resources[HOST_FRONT_URL] = {"Type": "AWS::Lambda::Url", "Properties": {
        "AuthType": "AWS_IAM", "InvokeMode": "BUFFERED",
        "TargetFunctionArn": {"Fn::GetAtt": [HOST_FRONT, "Arn"]}}}
    outputs["HostFrontURL"] = {
        "Description": "The host protocol's Function URL (FABU_API_URL of hosts that use it; "
                       "SigV4 service lambda)",
        "Value": {"Fn::GetAtt": [HOST_FRONT_URL, "FunctionUrl"]}}
    outputs["HostFrontFunctionArn"] = {
        "Description": "The function hosts may invoke through its URL (lambda:InvokeFunctionUrl "
                       "and lambda:InvokeFunction in the hosts' IAM policy)",
        "Value": {"Fn::GetAtt": [HOST_FRONT, "Arn"]}}


#: Lambda's advanced logging controls on every function (see the module docstring).
LOGGING = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "WARN"}


def quiet_logs(template: dict) -> None:
    """Every function logs at WARN and above, without the platform's per-invocation lines."""
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"].setdefault("LoggingConfig", dict(LOGGING))


def add_handler_module(zip_path: Path) -> None:
    """``host_front.py`` at the top of the code zip (replaced when already there)."""
    with zipfile.ZipFile(zip_path) as existing:
        if HANDLER_MODULE in existing.namelist():
            return
    with zipfile.ZipFile(zip_path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(HANDLER_MODULE, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, (ROOT / HANDLER_MODULE).read_bytes())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m infra.package <chalice package output directory>", file=sys.stderr)
        return 2
    out = Path(args[0])
    path = out / "sam.json"
    template = json.loads(path.read_text())
    queues_first(template)
    add_host_front(template)
    quiet_logs(template)
    path.write_text(json.dumps(template, indent=2))
    add_handler_module(out / "deployment.zip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
