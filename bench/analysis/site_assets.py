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

// Two cells can be compared when they are of one dataset (so on the same samples); '' when they can, else why not.
function compareProblem(a, b) {
  var cells = SITE.cells, known = function (cell) { return Object.prototype.hasOwnProperty.call(cells, cell); };
  if (!a || !b) return 'Choose two cells on the grid page to compare them.';
  if (!known(a) || !known(b)) return 'There is no cell ' + (known(a) ? b : a) + ' on this site: choose two on the grid page.';
  if (a === b) return 'Choose two different cells.';
  if (cells[a].dataset !== cells[b].dataset) return 'These cells are of different datasets, so they share no samples.';
  return '';
}

// The compare form on the index: go to the compare page of the two cells chosen.
function openCompare(event) {
  event.preventDefault();
  var a = document.getElementById('cell-a').value, b = document.getElementById('cell-b').value;
  var problem = compareProblem(a, b);
  document.getElementById('compare-note').textContent = problem;
  if (!problem) window.location.href = 'compare.html?a=' + encodeURIComponent(a) + '&b=' + encodeURIComponent(b);
  return false;
}

// compare.html?a=<cell>&b=<cell>: load both cells' rows (data/<cell>.js calls cellLoaded), then list where they differ.
var LOADED = {};

function showCompare() {
  var query = new URLSearchParams(window.location.search), a = query.get('a'), b = query.get('b');
  var note = document.getElementById('compare-note');
  note.textContent = compareProblem(a, b);
  if (note.textContent) return;
  [a, b].forEach(function (cell) {
    var script = document.createElement('script');
    script.src = 'data/' + cell + '.js';
    script.onload = function () { if (LOADED[a] && LOADED[b] && !document.getElementById('differ')) drawCompare(a, b); };
    script.onerror = function () { note.textContent = 'data/' + cell + '.js could not be read: run bench view again.'; };
    document.head.appendChild(script);
  });
}

function cellLoaded(cell, rows) { LOADED[cell] = rows; }

function element(tag, text, attributes) {
  var made = document.createElement(tag);
  if (text) made.textContent = text;
  Object.keys(attributes || {}).forEach(function (name) { made.setAttribute(name, attributes[name]); });
  return made;
}

// A select that applyFilters reads, as the cell pages' filters are written.
function filterSelect(name, label, choices) {
  var select = element('select', '', {'data-filter': name});
  select.onchange = applyFilters;
  ['all'].concat(choices).forEach(function (choice) { select.appendChild(element('option', choice || '(none)', {value: choice})); });
  var wrapped = element('label', label + ' ');
  wrapped.appendChild(select);
  return wrapped;
}

// The samples of both cells whose first verdict word (right, wrong or error) differs, in a's order.
function drawCompare(a, b) {
  var cells = SITE.cells, inB = {}, both = 0, errors = 0, differ = [], held = {};
  var names = [a, b].map(function (cell) { return cells[a].backbone === cells[b].backbone ? cells[cell].label : cells[cell].backbone + ' · ' + cells[cell].label; });
  LOADED[b].forEach(function (row) { inB[row.id] = row; });
  LOADED[a].forEach(function (row) {
    var other = inB[row.id];
    if (!other) return;
    both += 1;
    if (row.verdict.split(' ')[0] === other.verdict.split(' ')[0]) return;
    differ.push([row, other]);
    if (row.verdict === 'error' || other.verdict === 'error') errors += 1;
    row.groups.split('|').forEach(function (group) { held[group] = true; });
  });
  document.title = cells[a].title + ' vs ' + names[1];
  document.getElementById('title').textContent = document.title;
  var page = document.getElementById('compare');
  var count = element('p');
  count.appendChild(element('span', String(differ.length), {id: 'differ'}));
  count.append(' of ' + both + ' samples in both cells have verdicts that differ (' + (differ.length - errors) +
               ' right in one and wrong in the other, ' + errors + ' with an error row in one): ');
  count.appendChild(element('a', names[0], {href: 'cells/' + a + '.html'}));
  count.append(' vs ');
  count.appendChild(element('a', names[1], {href: 'cells/' + b + '.html'}));
  var filters = element('p');
  filters.appendChild(filterSelect('a', names[0], SITE.verdicts));
  filters.append(' ');
  filters.appendChild(filterSelect('b', names[1], SITE.verdicts));
  var categories = SITE.categories.filter(function (category) { return held[category]; });
  if (categories.length) { filters.append(' '); filters.appendChild(filterSelect('category', 'category', categories)); }
  filters.append(' ');
  filters.appendChild(element('span', String(differ.length), {id: 'shown'}));
  filters.append(' of ' + differ.length + ' shown');
  page.append(count, filters);
  differ.forEach(function (pair) {
    var first = pair[0], block = element('div', '', {'class': 'sample filtered', 'data-sample': first.id, 'data-category': first.groups,
        'data-a': first.verdict.replace(' ', '|'), 'data-b': pair[1].verdict.replace(' ', '|')});
    var asked = element('p', first.question);
    asked.append(element('br'), 'answer ' + first.answer);
    var sides = element('div', '', {'class': 'pair'});
    pair.forEach(function (row, i) {
      var side = element('div');
      side.append(element('h3', names[i] + ': ' + row.verdict), element('p', 'prediction ' + row.prediction + ' · selected ' + row.selected));
      var frames = element('div');
      frames.innerHTML = row.frames;  // written by bench view, its texts escaped there
      side.appendChild(frames);
      sides.appendChild(side);
    });
    block.append(element('h2', first.id), asked, sides);
    page.appendChild(block);
  });
}
"""
