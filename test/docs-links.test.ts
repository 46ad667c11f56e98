// The docs stand on their own: every Markdown link in README.md and docs/ points at a file of this
// repository (papers are cited by DOI as text, not linked), and every such file exists.
import fs from 'node:fs';
import path from 'node:path';

import test from 'ava';

const root = path.join(__dirname, '..', '..');
const files = ['README.md', ...fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f))];

/** Link targets of a Markdown text: [text](target) and <scheme://...> autolinks, outside code spans and blocks. */
function linkTargets(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g), ...prose.matchAll(/<([a-z][a-z0-9+.-]*:[^>\s]+)>/gi)].map((m) => m[1]);
}

test('README.md and docs/ link only to files of the repository, and those files exist', (t) => {
  const outside: string[] = [];
  const missing: string[] = [];
  for (const file of files) {
    for (const target of linkTargets(fs.readFileSync(path.join(root, file), 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        outside.push(`${file}: ${target}`);
        continue;
      }
      const [p] = target.split('#');
      if (p !== '' && !fs.existsSync(path.join(root, path.dirname(file), decodeURIComponent(p)))) missing.push(`${file}: ${target}`);
    }
  }
  t.true(files.length > 5, files.join(', '));
  t.deepEqual(outside, [], 'links that leave the repository');
  t.deepEqual(missing, [], 'links to files that do not exist');
});

test('the link finder sees links and autolinks, not code', (t) => {
  t.deepEqual(linkTargets('see [a](docs/a.md#x) and <https://example.org/y>, not `[b](https://c)` or\n```\n[d](https://e)\n```'),
    ['docs/a.md#x', 'https://example.org/y']);
});
