"""The inline style and script of the compile report (no external resources, so the
page works offline and from a file:// URL)."""

STYLE = """
:root { --fg: #1d1f21; --muted: #6a737d; --line: #d0d7de; --add: #e6ffec; --del: #ffebe9;
        --bar: #4f7cc7; --bg-code: #f6f8fa; }
body { font: 14px/1.45 system-ui, sans-serif; color: var(--fg); margin: 0 auto; max-width: 1200px; padding: 1em 2em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid var(--line); padding-bottom: 0.2em; margin-top: 1.6em; }
.meta, .muted { color: var(--muted); }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border-bottom: 1px solid var(--line); padding: 0.25em 0.7em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { display: inline-block; height: 0.7em; background: var(--bar); border-radius: 2px; }
#pass-list ol { padding-left: 1.6em; } #pass-list li { margin: 0.15em 0; }
.badge { background: #fff5b1; border-radius: 8px; padding: 0 0.5em; font-size: 12px; margin-left: 0.4em; }
pre { background: var(--bg-code); padding: 0.8em; overflow-x: auto; font: 12px/1.4 ui-monospace, monospace; }
pre.diff span { display: block; } .diff .add { background: var(--add); } .diff .del { background: var(--del); }
.diff .hunk { color: var(--muted); }
ul.remarks li { font-family: ui-monospace, monospace; font-size: 12px; }
.toolbar { position: sticky; top: 0; background: white; padding: 0.4em 0; border-bottom: 1px solid var(--line); }
.toolbar input { width: 20em; }
section.hidden { display: none; }
"""

SCRIPT = """
(function () {
  function setAll(open) {
    document.querySelectorAll('section.snapshot details').forEach(function (d) { d.open = open; });
  }
  document.getElementById('expand-all').addEventListener('click', function () { setAll(true); });
  document.getElementById('collapse-all').addEventListener('click', function () { setAll(false); });
  var filter = document.getElementById('filter');
  filter.addEventListener('input', function () {
    var needle = filter.value.toLowerCase();
    document.querySelectorAll('section.snapshot').forEach(function (s) {
      s.classList.toggle('hidden', needle !== '' && s.textContent.toLowerCase().indexOf(needle) < 0);
    });
  });
  document.body.setAttribute('data-rendered', 'yes');
})();
"""
