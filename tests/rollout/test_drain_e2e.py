"""End to end: a sandbox host runs the real agent while fabu keeps it out of its target group.

The host is an instance of the suite's moto server, registered in an ``instance`` target group
of the project's ``rollout.load_balancer``; its name is the instance id. The API is ``chalice
local`` (``live``), the tick runs with ``live.tick()``, and the host runs
``agent/fabu-agent.sh``. The project's ``start`` script waits for a file the test writes, so
the target group can be read (``DescribeTargetHealth``, as an operator would) while the agent
is mid-deploy: the host is not in service then, and is again after its success.
"""
from tests.rollout.test_drain import in_service, instances, target_group
from tests.support.sandbox import SandboxHost, project_body, project_view, stored_release, wait_for


def test_the_host_is_out_of_its_target_group_while_the_real_agent_deploys(live, tmp_path):
    group = target_group()
    [host] = instances(1, group)
    sandbox = SandboxHost(tmp_path / "host", live, host)
    waiting, go = tmp_path / "start-waiting", tmp_path / "go"
    start = (f'touch "{waiting}"; while [ ! -e "{go}" ]; do sleep 0.1; done; '
             'echo "started $FABU_VERSION" > started.txt')
    stored_release("shop", "1.0.0")
    body = project_body("shop", "1.0.0", [host], scripts={"start": start},
                        rollout={"load_balancer": {"target_groups": [group]}})
    assert in_service(group) == {host}
    assert live.request("POST", "/api/v1/project", body).status_code == 201
    assert host not in in_service(group)               # deregistered: draining, no deploy yet
    sandbox.run_agent()
    assert sandbox.current_version("shop") is None and not sandbox.releases("shop")
    live.tick()                                        # drained: the deploy is handed out
    agent = sandbox.start_agent()
    try:
        wait_for(waiting.exists, timeout=30, what="the start script to run")
        assert host not in in_service(group)           # mid-deploy: out of service
        live.tick()
        assert host not in in_service(group)           # a tick mid-deploy keeps it out
        go.write_text("")
        out, err = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
    assert agent.returncode == 0, err
    assert sandbox.current_version("shop") == "1.0.0"
    live.tick()                                        # succeeded: registered again
    assert in_service(group) == {host}
    assert project_view(live, "shop")["rollout"]["state"] == "succeeded"
