"""`make audit` tells audited from not audited: pip-audit says "No known vulnerabilities found"
even when it could look up no package at all."""

from __future__ import annotations

from devstack import audit


def report(*dependencies: dict) -> dict:
    return {"dependencies": list(dependencies), "fixes": []}


def test_a_report_where_every_package_was_skipped_is_not_an_audit():
    result = audit.parse_report(
        report({"name": "django", "version": "5.2", "skip_reason": "Dependency not found on PyPI"})
    )
    assert not result.reached
    assert result.skipped == ["django==5.2"]


def test_a_known_vulnerability_is_reported_unless_reviewed(monkeypatch):
    vulnerable = {"name": "django", "version": "5.2", "vulns": [{"id": "PYSEC-1", "fix_versions": []}]}
    clean = {"name": "celery", "version": "5.7.0", "vulns": []}
    result = audit.parse_report(report(vulnerable, clean))
    assert (result.reached, result.vulnerable) == (True, {"django==5.2": ["PYSEC-1"]})
    monkeypatch.setattr(audit, "REVIEWED", {"PYSEC-1": "the affected feature is not used"})
    assert audit.parse_report(report(vulnerable, clean)).vulnerable == {}


def test_offline_audit_passes_and_says_so(monkeypatch, capsys):
    monkeypatch.setattr(audit, "audit", lambda: None)
    assert audit.main() == 0
    assert "NOT audited" in capsys.readouterr().out
