"""Release dependencies between projects: the graph checks done when settings change.

``find_cycle`` follows ``depends_on`` edges from a project through the stored projects (one
GetItem per project reached, never a scan) and returns the cycle as a list of names when the new
edges would close one.
"""


def find_cycle(name, depends_on, load_depends_on):
    """``["a", "b", "a"]`` if giving ``name`` these ``depends_on`` closes a cycle, else None.

    ``load_depends_on(project)`` returns that project's ``depends_on`` list, or None when the
    project does not exist.
    """
    cache = {name: depends_on}

    def edges(project):
        if project not in cache:
            cache[project] = load_depends_on(project) or []
        return [dep["project"] for dep in cache[project]]

    path, on_path, done = [], set(), set()

    def visit(project):
        path.append(project)
        on_path.add(project)
        for nxt in edges(project):
            if nxt in on_path:
                return path[path.index(nxt):] + [nxt]
            if nxt not in done:
                found = visit(nxt)
                if found:
                    return found
        on_path.discard(project)
        done.add(project)
        path.pop()
        return None

    return visit(name)


def order(projects, depends_on_of):
    """Sort project names so that each comes after the projects it depends on (stable)."""
    names = list(projects)
    placed, result = set(), []

    def place(project, seen=()):
        if project in placed or project in seen:
            return
        for dep in depends_on_of(project):
            if dep in names:
                place(dep, seen + (project,))
        placed.add(project)
        result.append(project)

    for project in names:
        place(project)
    return result
