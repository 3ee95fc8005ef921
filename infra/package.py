"""``make package``'s last step: what ``chalice package --merge-template`` cannot express.

Run on the output directory (``build/package``) after chalice wrote ``sam.json`` and
``deployment.zip``:

* every function with an SQS event source ``DependsOn`` the queues (chalice names the queue by
  ARN, not ``Ref``: without it the mapping can be created before its queue on the first deploy);
* the host protocol's small front: the function ``HostFront`` (handler ``host_front.handler``,
  the same code zip, runtime, environment and role as the API's handler, 256 MB, 10 s), its
  ``AWS::Lambda::Url`` (``AuthType: AWS_IAM``) and the outputs ``HostFrontURL`` and
  ``HostFrontFunctionArn`` (what a host's IAM policy names). They live here, not in
  ``infra/resources.json``, because their settings are the API handler's that chalice generates,
  and the local emulator (``infra/stack.py``) creates no functions;
* the REST API's four host routes (``GET /api/v1/{host}``, ``GET /api/v1/{host}/deploy``,
  ``POST /api/v1/{host}/report``, ``GET /api/v1/{host}/config``) invoke ``HostFront`` instead of
  the API's handler: their integration URIs in the REST API's swagger name it, and one
  ``AWS::Lambda::Permission`` per route lets API Gateway invoke it from that REST API and route
  only. The host polls of a whole fleet then run at HostFront's 256 MB on the handler that
  imports only the host routes, and are no longer invocations of the API function (a reserved
  concurrency on either keeps polls and operators apart); every other path stays on
  ``APIHandler``;
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
#: The REST API's host routes that invoke the host front: swagger path, method, permission name.
HOST_ROUTES = (("/api/v1/{host}", "get", "HostFrontPollPermission"),
               ("/api/v1/{host}/deploy", "get", "HostFrontDeployPermission"),
               ("/api/v1/{host}/report", "post", "HostFrontReportPermission"),
               ("/api/v1/{host}/config", "get", "HostFrontConfigPermission"))
HOST_FRONT_URI = ("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/"
                  "functions/${HostFront.Arn}/invocations")
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
                       "Description": "fabu host protocol (its Function URL and the REST API's "
                                      "host routes): GET /api/v1/{host}, GET /api/v1/{host}/deploy, "
                                      "POST /api/v1/{host}/report, GET /api/v1/{host}/config"})
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


def route_host_paths(template: dict) -> None:
    """The REST API's host routes invoke the host front, each with its permission (see the
    module docstring); a swagger without one of them is an error, not a silent skip."""
    resources = template["Resources"]
    paths = resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    for path, method, permission in HOST_ROUTES:
        operation = paths.get(path, {}).get(method)
        if operation is None or "x-amazon-apigateway-integration" not in operation:
            raise SystemExit(f"infra.package: the REST API has no integration for "
                             f"{method.upper()} {path}; cannot send it to {HOST_FRONT}")
        operation["x-amazon-apigateway-integration"]["uri"] = {"Fn::Sub": HOST_FRONT_URI}
        # execute-api ARN: <api id>/<stage>/<METHOD>/<path>, ``*`` for any stage and the host
        # (``*`` spans "/" too: the poll's also matches the API's other GET paths, which never
        # invoke the host front; it answers them 404 anyway)
        route = path.replace("{host}", "*")
        resources[permission] = {"Type": "AWS::Lambda::Permission", "Properties": {
            "FunctionName": {"Fn::GetAtt": [HOST_FRONT, "Arn"]},
            "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
            "SourceArn": {"Fn::Sub": f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:"
                                     f"${{AWS::AccountId}}:${{RestAPI}}/*/{method.upper()}{route}"}}}


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
    route_host_paths(template)
    quiet_logs(template)
    path.write_text(json.dumps(template, indent=2))
    add_handler_module(out / "deployment.zip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
