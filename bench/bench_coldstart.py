"""Cold start: importing app.py in a fresh process vs `import boto3; boto3.client("dynamodb")`.

Both run in fresh interpreters, alternated, N times each, in the same run; the ratio of medians
is printed (target: at most 1.25x). Lazy clients, lazily compiled templates and no module-level
AWS work are what keep app.py close to the baseline.
"""
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
ENV = dict(os.environ, AWS_DEFAULT_REGION="us-east-1", FABU_STAGE="local",
           AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
BASELINE = 'import boto3; boto3.client("dynamodb")'
APP = "import app"


def _time(code):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, check=True)
    return time.perf_counter() - start


def main():
    _time(BASELINE), _time(APP)  # warm the page cache
    base, app = [], []
    for _ in range(RUNS):
        base.append(_time(BASELINE))
        app.append(_time(APP))
    b, a = statistics.median(base), statistics.median(app)
    print("baseline  import boto3 + dynamodb client: median %.1f ms" % (b * 1000))
    print("app.py    import app:                     median %.1f ms" % (a * 1000))
    print("ratio     %.2fx (target <= 1.25x)" % (a / b))
    return 0 if a / b <= 1.25 else 1


if __name__ == "__main__":
    sys.exit(main())
