"""Release dependencies between projects as a graph: cycle checks and dependency order.

Both use the standard library's ``graphlib``. ``find_cycle`` follows ``depends_on`` edges from
one project through the stored projects (one read per project reached, never a scan) and names
the cycle a change would close; ``order`` sorts the projects of one deploy script so that each
comes after the projects it depends on.
"""
import graphlib
from collections.abc import Callable, Iterable


def find_cycle(name: str, depends_on: list[dict],
               load_depends_on: Callable[[str], list[dict] | None]) -> list[str] | None:
    """``["a", "b", "a"]`` if giving ``name`` these ``depends_on`` closes a cycle, else None.

    ``load_depends_on(project)`` returns that project's ``depends_on`` list, or None when the
    project does not exist.
    """
    graph = {}
    todo = [(name, depends_on)]
    while todo:
        project, deps = todo.pop()
        graph[project] = [dep["project"] for dep in deps or []]
        for nxt in graph[project]:
            if nxt not in graph and all(nxt != queued for queued, _ in todo):
                todo.append((nxt, load_depends_on(nxt) or []))
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))  # graphlib lists it against the edges' direction
        start = cycle.index(name) if name in cycle else 0
        return cycle[start:-1] + cycle[:start] + [cycle[start]]
    return None


def order(projects: Iterable[str], depends_on_of: Callable[[str], list[str]]) -> list[str]:
    """``projects`` sorted so that each comes after those it depends on (ties keep their order)."""
    names = list(projects)
    sorter = graphlib.TopologicalSorter(
        {name: [dep for dep in depends_on_of(name) if dep in names] for name in names})
    sorter.prepare()
    rank = {name: i for i, name in enumerate(names)}
    result = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=rank.__getitem__)
        result.extend(ready)
        sorter.done(*ready)
    return result
