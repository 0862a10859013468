"""Hostile strings every client-supplied field must treat as data (issue 6: at least 30)."""

from __future__ import annotations


def payloads(canary: str) -> list[str]:
    """30+ strings: shell metacharacters, JSON breakers, paths, NUL, huge, unicode, injection."""
    touch = f"touch {canary}"
    return [
        f"; {touch}", f"$({touch})", f"`{touch}`", f"| {touch}", f"&& {touch}", f"\n{touch}\n", f"' ; {touch}; '",
        f'" ; {touch}; "', f"${{IFS}}{touch.replace(' ', '${IFS}')}", f"$(bash -c '{touch}')", "$(</etc/passwd)",
        f"x > {canary}", f"x >> {canary}", f"<(touch {canary})", "*", "~root",
        '"}', '{"a":', "\\", "\\u0000", "]}", '","__proto__":{"x":1},"',
        "../../../../tmp/dm-hostile-dotdot", "/etc/passwd", "..\\..\\windows\\win.ini", "%2e%2e%2fetc%2fpasswd",
        "a\x00b", "A" * 100_000, "ünïcödé ✓ Ω", "\u202eevil\u202c", "😀" * 50, "\ufeffbom", "\r\nX-Injected: 1",
        "", " ", "null", "true", "-1", "<script>alert(1)</script>", "' OR '1'='1' --", "%s%s%s%n", "{{7*7}}${7*7}",
    ]
