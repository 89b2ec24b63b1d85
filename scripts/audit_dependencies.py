"""Run pip-audit on the installed environment and tell "no vulnerabilities" from "not checked".

pip-audit reports "No known vulnerabilities found" even when it could not
reach its vulnerability service and skipped every package. This script
counts the packages it really audited. Known vulnerabilities always fail.
When packages could not be audited, BRUSHWORK_AUDIT_UNREACHABLE decides:
``warn`` (the default, for machines without access to the service) prints
the count and passes, ``fail`` fails.

Usage: python scripts/audit_dependencies.py [PIP_AUDIT_BINARY]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

TIMEOUT_S = 300


def main() -> int:
    binary = sys.argv[1] if len(sys.argv) > 1 else "pip-audit"
    policy = os.environ.get("BRUSHWORK_AUDIT_UNREACHABLE", "warn")
    if policy not in ("warn", "fail"):
        print(f"pip-audit gate: invalid BRUSHWORK_AUDIT_UNREACHABLE={policy!r}; use warn or fail")
        return 2
    command = [binary, "--format", "json", "--progress-spinner", "off", "--skip-editable"]
    try:
        # The command is fixed; only the pip-audit path comes from the caller.
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)  # noqa: S603
    except subprocess.TimeoutExpired:
        return unreachable(policy, f"pip-audit did not finish within {TIMEOUT_S} s")
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return unreachable(policy, f"pip-audit failed (exit {result.returncode}): {last_line}")

    # The project itself is installed editable and is not on PyPI; it is not a dependency.
    dependencies = [
        d for d in report.get("dependencies", []) if "editable" not in d.get("skip_reason", "")
    ]
    audited = [d for d in dependencies if "vulns" in d]
    skipped = [d for d in dependencies if "vulns" not in d]
    vulnerable = [d for d in audited if d["vulns"]]
    for dependency in vulnerable:
        ids = ", ".join(v["id"] for v in dependency["vulns"])
        print(f"pip-audit gate: {dependency['name']} {dependency['version']}: {ids}")
    print(
        f"pip-audit gate: {len(audited)} packages audited, {len(skipped)} not audited, "
        f"{len(vulnerable)} with known vulnerabilities"
    )
    if vulnerable:
        return 1
    if skipped:
        reasons = sorted({d.get("skip_reason", "").split(":")[0] for d in skipped})
        return unreachable(
            policy, f"{len(skipped)} packages were not audited ({'; '.join(reasons)})"
        )
    return 0


def unreachable(policy: str, reason: str) -> int:
    print(
        f"pip-audit gate: NOT CHECKED: {reason}. The vulnerability service is probably "
        "unreachable from this machine."
    )
    if policy == "fail":
        print("pip-audit gate: failing because BRUSHWORK_AUDIT_UNREACHABLE=fail")
        return 1
    print(
        "pip-audit gate: passing because BRUSHWORK_AUDIT_UNREACHABLE=warn (the default); "
        "set it to fail where the service is reachable"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
