"""The stylesheet and script every `bench view` page shares, written into the site as files.

Plain CSS and a few lines of JavaScript, no library: the site opens from the file system
and offline, so nothing may come from a CDN or need a build step.
"""

CSS = """\
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.right td.verdict { color: #080; } tr.wrong td.verdict { color: #b00; } tr.error td.verdict { color: #a60; }
.hidden { display: none; }
.strip { overflow-x: auto; padding: 3px 0; }
.sheet { position: relative; height: 70px; }
.sheet img { display: block; position: absolute; top: 3px; left: 0; }
.sheet span { position: absolute; box-sizing: border-box; }
.sheet span.sel { top: 0; height: 70px; border: 3px solid #e31e1e; }
.sheet span.ev { top: 67px; height: 3px; background: #1c7ed6; }
.missing { color: #a60; font-style: italic; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.pair > div { min-width: 0; }
.legend span { margin-right: 1em; }
.sample { border-top: 1px solid #ddd; padding: .5em 0; }
svg.curve { background: #fafafa; border: 1px solid #ddd; max-width: 100%; height: auto; }
nav a { margin-right: 1em; }
"""

JS = """\
// Filters on cell and compare pages: show the items whose data-<name> holds each select's value.
function applyFilters() {
  var filters = document.querySelectorAll('select[data-filter]');
  var shown = 0;
  document.querySelectorAll('.filtered').forEach(function (item) {
    var ok = true;
    filters.forEach(function (select) {
      var values = (item.getAttribute('data-' + select.getAttribute('data-filter')) || '').split('|');
      if (select.value !== 'all' && values.indexOf(select.value) < 0) ok = false;
    });
    item.classList.toggle('hidden', !ok);
    if (ok) shown += 1;
  });
  document.getElementById('shown').textContent = shown;
}

// The compare form on the index: go to the page of the two cells chosen, if they share samples.
function openCompare(event) {
  event.preventDefault();
  var a = document.getElementById('cell-a').value, b = document.getElementById('cell-b').value;
  var name = [a, b].sort().join('--');
  var note = document.getElementById('compare-note');
  if (a === b) { note.textContent = 'Choose two different cells.'; return false; }
  if (PAIRS.indexOf(name) < 0) { note.textContent = 'These cells share no dataset, backbone and k: nothing to compare.'; return false; }
  window.location.href = 'compare/' + name + '.html';
  return false;
}
"""
