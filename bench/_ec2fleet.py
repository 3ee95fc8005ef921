"""A stand-in for EC2's ``DescribeInstances`` and Auto Scaling's ``DescribeAutoScalingGroups`` at
fleet scale, for ``bench_fleet_sync.py``.

moto's EC2 serialises about 15 ms an instance a Describe (50,000 instances: minutes a sweep, and
creating them longer), which would bury what the bench measures: fabu's own cost around the
Describe calls. This answers the two calls the sweep makes with the XML the real services send
(the shapes of botocore's models: reservations of one instance, ``nextToken`` paging by
``MaxResults`` instances; groups with their instances inline), filtering on ``tag:<key>`` and
``instance-state-name`` as EC2 does, in its own process (no GIL shared with the code measured).
The client, its parsing and paging are botocore's, unchanged, for fabu and for the baseline.

Its data: ``groups`` of instances, each selected by a tag set or an Auto Scaling group;
``POST Action=BenchChurn&Count=n`` terminates the n oldest instances of every group and launches
n new ones; ``Action=BenchCount`` answers the calls served so far.
"""
import itertools
import multiprocessing
import secrets
import socket
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
_EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
_ASG_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"


class Data:
    def __init__(self, groups: list[dict]):
        self.groups = groups            # [{"tags": {..}} or {"asg": name}, "count": n]
        self.members = []               # per group: [(instance id, zone)]
        self.counter = itertools.count()
        for group in groups:
            self.members.append([self._new() for _ in range(group["count"])])
        self.calls = 0

    def _new(self) -> tuple[str, str]:
        n = next(self.counter)
        return f"i-{n:017x}", ZONES[n % len(ZONES)]

    def churn(self, count: int) -> None:
        for members in self.members:
            del members[:count]
            members.extend(self._new() for _ in range(count))

    def tagged(self, filters: dict[str, str]) -> list[tuple[str, str, dict]]:
        """The running instances whose tags match every ``tag:`` filter."""
        found = []
        for group, members in zip(self.groups, self.members):
            tags = group.get("tags") or {"aws:autoscaling:groupName": group.get("asg")}
            if all(tags.get(k) == v for k, v in filters.items()):
                found += [(i, z, tags) for i, z in members]
        return found


def _instance_xml(instance_id: str, zone: str, tags: dict) -> str:
    tag_xml = "".join(f"<item><key>{k}</key><value>{v}</value></item>" for k, v in tags.items())
    n = int(instance_id[2:], 16)
    ip = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    return (f"<item><reservationId>r-{instance_id[2:]}</reservationId><ownerId>123456789012</ownerId>"
            f"<groupSet/><instancesSet><item><instanceId>{instance_id}</instanceId>"
            "<imageId>ami-0123456789abcdef0</imageId><instanceState><code>16</code><name>running"
            f"</name></instanceState><privateDnsName>ip-{ip.replace('.', '-')}.ec2.internal"
            "</privateDnsName><dnsName/><instanceType>m5.large</instanceType><launchTime>"
            "2026-11-30T08:00:00.000Z</launchTime><placement><availabilityZone>"
            f"{zone}</availabilityZone><tenancy>default</tenancy></placement><monitoring><state>"
            f"disabled</state></monitoring><subnetId>subnet-0abc</subnetId><vpcId>vpc-0abc</vpcId>"
            f"<privateIpAddress>{ip}</privateIpAddress><architecture>x86_64</architecture>"
            "<rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName>"
            "<hypervisor>xen</hypervisor><virtualizationType>hvm</virtualizationType>"
            f"<tagSet>{tag_xml}</tagSet></item></instancesSet></item>")


def _handler(data: Data):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
            action = form.get("Action")
            if action == "BenchChurn":
                data.churn(int(form["Count"]))
                return self._send("ok")
            if action == "BenchCount":
                return self._send(str(data.calls))
            data.calls += 1
            if action == "DescribeInstances":
                return self._send(self._instances(form))
            if action == "DescribeAutoScalingGroups":
                return self._send(self._groups(form))
            self._send("unknown action", 400)

        def _instances(self, form: dict) -> str:
            filters, i = {}, 1
            while f"Filter.{i}.Name" in form:
                name, value = form[f"Filter.{i}.Name"], form.get(f"Filter.{i}.Value.1", "")
                if name.startswith("tag:"):
                    filters[name[4:]] = value
                i += 1
            found = data.tagged(filters)
            start = int(form.get("NextToken") or 0)
            size = int(form.get("MaxResults") or 1000)
            page = found[start:start + size]
            token = f"<nextToken>{start + size}</nextToken>" if start + size < len(found) else ""
            body = "".join(_instance_xml(*entry) for entry in page)
            return (f'<DescribeInstancesResponse xmlns="{_EC2_NS}"><requestId>'
                    f"{secrets.token_hex(8)}</requestId><reservationSet>{body}</reservationSet>"
                    f"{token}</DescribeInstancesResponse>")

        def _groups(self, form: dict) -> str:
            names = [v for k, v in sorted(form.items()) if k.startswith("AutoScalingGroupNames.member.")]
            out = []
            for group, members in zip(data.groups, data.members):
                if group.get("asg") not in names:
                    continue
                instances = "".join(
                    f"<member><InstanceId>{i}</InstanceId><InstanceType>m5.large</InstanceType>"
                    f"<AvailabilityZone>{z}</AvailabilityZone><LifecycleState>InService"
                    "</LifecycleState><HealthStatus>Healthy</HealthStatus><ProtectedFromScaleIn>"
                    "false</ProtectedFromScaleIn></member>" for i, z in members)
                out.append(f"<member><AutoScalingGroupName>{group['asg']}</AutoScalingGroupName>"
                           f"<MinSize>0</MinSize><MaxSize>{len(members) * 2}</MaxSize>"
                           f"<DesiredCapacity>{len(members)}</DesiredCapacity><DefaultCooldown>300"
                           "</DefaultCooldown><AvailabilityZones>" + "".join(
                               f"<member>{z}</member>" for z in ZONES) + "</AvailabilityZones>"
                           "<HealthCheckType>EC2</HealthCheckType><CreatedTime>"
                           f"2026-11-30T08:00:00.000Z</CreatedTime><Instances>{instances}"
                           "</Instances></member>")
            return (f'<DescribeAutoScalingGroupsResponse xmlns="{_ASG_NS}">'
                    f"<DescribeAutoScalingGroupsResult><AutoScalingGroups>{''.join(out)}"
                    "</AutoScalingGroups></DescribeAutoScalingGroupsResult><ResponseMetadata>"
                    f"<RequestId>{secrets.token_hex(8)}</RequestId></ResponseMetadata>"
                    "</DescribeAutoScalingGroupsResponse>")

        def _send(self, text: str, status: int = 200) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    return Handler


def _serve(port: int, groups: list[dict]) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _handler(Data(groups))).serve_forever()


def start(groups: list[dict]) -> tuple[str, multiprocessing.Process]:
    """Serve ``groups`` from a new process; ``(endpoint URL, process)``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = multiprocessing.Process(target=_serve, args=(port, groups), daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return url, proc
        except OSError:
            import time
            time.sleep(0.1)
    raise RuntimeError("the EC2 stand-in did not start")
