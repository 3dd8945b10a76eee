import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDotenv, parseDotenv } from '../src/index.js';

test('.env output quotes what needs it', () => {
  assert.equal(
    formatDotenv([
      { name: 'A', value: 'http://x:1/p?q=1' },
      { name: 'B', value: 'two words "and" $HOME\nnext' },
      { name: 'C', value: '' },
    ]),
    'A=http://x:1/p?q=1\nB="two words \\"and\\" \\$HOME\\nnext"\nC=\n',
  );
});

test('what formatDotenv writes, parseDotenv reads back exactly', () => {
  const variables = [
    { name: 'PLAIN', value: 'postgres://u@db:5432/app?sslmode=require' },
    { name: 'TRICKY', value: 'a\\b "c" $D\r\n\te # not a comment' },
    { name: 'EMPTY', value: '' },
    { name: 'UNICODE', value: 'grüße 🙂' },
  ];
  assert.deepEqual(parseDotenv(formatDotenv(variables)), { variables, problems: [] });
});

test('.env input: comments, export, single quotes, last value wins', () => {
  const parsed = parseDotenv("# config\n\nexport A=1\nB='raw \\n $x' # note\nC=bare value # comment\nA=2\r\n");
  assert.deepEqual(parsed.problems, []);
  assert.deepEqual(parsed.variables, [
    { name: 'A', value: '2' },
    { name: 'B', value: 'raw \\n $x' },
    { name: 'C', value: 'bare value' },
  ]);
});

test('.env problems: every one, by line, never quoting a value', () => {
  const parsed = parseDotenv('GOOD=1\nno equals sign\n1BAD=x\nOPEN="secret-value\nESC="a\\qb"\nQ=\'x\' y\n');
  assert.deepEqual(parsed.variables, [{ name: 'GOOD', value: '1' }]);
  assert.equal(parsed.problems.length, 5);
  assert.match(parsed.problems[0]!, /^line 2: expected NAME=value$/);
  assert.match(parsed.problems[1]!, /^line 3: "1BAD" is not a variable name/);
  assert.match(parsed.problems[2]!, /^line 4 \(OPEN\): the double quote is not closed/);
  assert.match(parsed.problems[3]!, /^line 5 \(ESC\): unknown escape \\q/);
  assert.match(parsed.problems[4]!, /^line 6 \(Q\): text after the closing quote/);
  assert.ok(parsed.problems.every((p) => !p.includes('secret-value')));
});
