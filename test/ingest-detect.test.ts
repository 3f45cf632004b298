import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleLayout, detectFormat } from '../ingest/detect.ts';

const root = mkdtempSync(join(tmpdir(), 'gapmap-detect-'));
function fixture(name: string, content: string | Buffer, dir = root): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

const customers = JSON.stringify([{ key: 'crumb-and-co', name: 'Crumb & Co', jobs: [] }]);
const ticketLine = JSON.stringify({
  id: 1,
  customer: 'crumb-and-co',
  created_at: '2026-04-01T00:00:00Z',
  subject: 'Hi',
  description: 'Hello',
});

describe('detectFormat', () => {
  it('tells formats apart by content, whatever the extension', async () => {
    const cases: [string, string | Buffer, string][] = [
      ['a.json', customers, 'customers'],
      ['b.dat', `${ticketLine}\n${ticketLine}\n`, 'tickets'],
      ['c.json', '{\n  "tickets": [\n    {"id": 1}\n  ],\n  "count": 1\n}', 'zendesk-export'],
      ['d.json', JSON.stringify({ count: 1, tickets: [{ id: 1 }] }), 'zendesk-export'],
      [
        'e.json',
        JSON.stringify([{ file: 'a.vtt', customer: 'x', interviewed_at: null, customer_speakers: ['A'] }]),
        'transcript-index',
      ],
      [
        'f.json',
        JSON.stringify([{ file: 'a.md', customer: 'x', interviewed_at: null, author: 'R' }]),
        'notes-index',
      ],
      ['g.txt', '\uFEFFWEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v A>hi\n', 'vtt'],
      ['h.txt', '1\r\n00:00:01,000 --> 00:00:02,000\r\nA: hi\r\n', 'srt'],
      ['i.dat', 'response_id,customer,submitted_at,question,answer,score\nr,c,,q,a,\n', 'surveys'],
      [
        'j.txt',
        '[00:00:01] Sam Reyes: Hello.\n\n[00:00:04] Marta Quill: Hi.\n\nMarta Quill: More.\n',
        'txt-transcript',
      ],
      [
        'k.txt',
        '# Visit\n\nMarta showed us the order book.\n\n- orders come by text\n- "I copy them by hand"\n',
        'notes',
      ],
      ['l.md', 'Marta Quill: quoted.\n\nJo Baines: also quoted.\n', 'notes'],
      [
        'm.docx',
        Buffer.concat([Buffer.from('PK\u0003\u0004', 'latin1'), Buffer.from('....word/document.xml')]),
        'docx',
      ],
      ['n.jsonl', JSON.stringify({ ref: 'ticket:1', text: 'x', kind: 'other' }) + '\n', 'unknown'],
      ['o.json', JSON.stringify([{ key: 'g1', customer: 'x', kind: 'friction' }]), 'unknown'],
      ['p.bin', Buffer.from([0x00, 0x01, 0x02]), 'unknown'],
      [
        'q.zip',
        Buffer.concat([Buffer.from('PK\u0003\u0004', 'latin1'), Buffer.from('readme.txt')]),
        'unknown',
      ],
    ];
    for (const [name, content, expected] of cases) {
      expect(await detectFormat(fixture(name, content)), name).toBe(expected);
    }
  });

  it('judges JSONL by its first lines that parse, not by the first line alone', async () => {
    const noId = JSON.stringify({ customer: 'crumb-and-co', created_at: '2026-04-01', description: 'no id' });
    const cases: [string, string, string][] = [
      ['first-no-id.jsonl', `${noId}\n${ticketLine}\n`, 'tickets'],
      ['first-no-id.dat', `${noId}\n\n${ticketLine}\n`, 'tickets'],
      ['first-list.jsonl', `[1, 2, 3]\n${ticketLine}\n`, 'tickets'],
      ['first-broken.json', `{"id": 1, "subj\n${ticketLine}\n`, 'tickets'],
      ['all-no-id.jsonl', `${noId}\n${noId}\n`, 'tickets'],
      ['labels-again.jsonl', `${JSON.stringify({ ref: 'ticket:1', text: 'x' })}\n[1]\n`, 'unknown'],
      ['list.json', JSON.stringify([1, 2, 3]), 'unknown'],
    ];
    for (const [name, content, expected] of cases) {
      expect(await detectFormat(fixture(name, content)), name).toBe(expected);
    }
  });

  it('reads notes that open with a bracket or a brace as notes, by their extension', async () => {
    const cases: [string, string, string][] = [
      ['draft.md', '[Draft] Interview notes with Crumb & Co\n\nMarta said "orders come by text".\n', 'notes'],
      ['draft.markdown', '[Draft] Visit\n\n- orders by text\n', 'notes'],
      ['draft.txt', '[Draft] Visit\n\nMarta copies orders by hand.\n', 'notes'],
      ['brace.md', '{to check} Visit notes\n\nOrders come by text.\n', 'notes'],
      ['customers.md', customers, 'customers'],
      ['draft.json', '[Draft] Visit\n', 'unknown'],
    ];
    for (const [name, content, expected] of cases) {
      expect(await detectFormat(fixture(name, content)), name).toBe(expected);
    }
  });

  it('falls back to the extension when the content says nothing', async () => {
    expect(await detectFormat(fixture('empty.vtt', ''))).toBe('vtt');
    expect(await detectFormat(fixture('odd.csv', 'Respondent;Answer\n1;ok\n'))).toBe('surveys');
    expect(await detectFormat(fixture('broken.jsonl', '{"id": 1, \n'))).toBe('tickets');
    expect(await detectFormat(join(root, 'missing.csv'))).toBe('unknown');
  });
});

describe('bundleLayout', () => {
  it('lists what a bundle folder holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gapmap-bundle-'));
    fixture('customers.json', customers, dir);
    fixture('surveys.csv', 'response_id,customer,submitted_at,question,answer,score\n', dir);
    fixture('tickets.jsonl', `${ticketLine}\n`, dir);
    fixture('zendesk-april.json', JSON.stringify({ tickets: [] }), dir);
    fixture('labels.jsonl', JSON.stringify({ ref: 'ticket:1', text: 'x' }) + '\n', dir);
    mkdirSync(join(dir, 'transcripts'));
    fixture('index.json', '[]', join(dir, 'transcripts'));
    fixture('b.vtt', 'WEBVTT\n', join(dir, 'transcripts'));
    fixture('a.srt', '', join(dir, 'transcripts'));
    expect(await bundleLayout(dir)).toEqual({
      customers: join(dir, 'customers.json'),
      surveys: [join(dir, 'surveys.csv')],
      tickets: [join(dir, 'tickets.jsonl'), join(dir, 'zendesk-april.json')],
      transcripts: {
        index: join(dir, 'transcripts', 'index.json'),
        files: [join(dir, 'transcripts', 'a.srt'), join(dir, 'transcripts', 'b.vtt')],
      },
      notes: null,
      other: [join(dir, 'labels.jsonl')],
    });
  });
});
