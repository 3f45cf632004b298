import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCustomers } from '../ingest/customers.ts';

const dir = mkdtempSync(join(tmpdir(), 'gapmap-customers-'));
function fixture(name: string, content: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

const bakery = {
  key: 'crumb-and-co',
  name: 'Crumb & Co Bakery',
  jobs: [
    {
      key: 'wholesale-orders',
      statement: 'Take standing orders from cafés without re-typing them every week',
      desired_outcome: 'Minimize the minutes spent copying orders into the kitchen plan',
      examples: ['The Monday café orders still come in by text message.'],
    },
  ],
};
const garage = {
  key: 'northgate-garage',
  name: 'Northgate Garage',
  jobs: [
    {
      key: 'quotes',
      statement: 'Send a repair quote before the customer leaves',
      desired_outcome: 'Minimize time from inspection to quote',
    },
  ],
};

describe('parseCustomers', () => {
  it('loads customers and their jobs', async () => {
    const { customers, errors } = await parseCustomers(fixture('good.json', [bakery, garage]));
    expect(errors).toEqual([]);
    expect(customers).toEqual([
      {
        key: 'crumb-and-co',
        name: 'Crumb & Co Bakery',
        jobs: [
          {
            key: 'wholesale-orders',
            statement: bakery.jobs[0]!.statement,
            desiredOutcome: bakery.jobs[0]!.desired_outcome,
            examples: bakery.jobs[0]!.examples,
          },
        ],
      },
      {
        key: 'northgate-garage',
        name: 'Northgate Garage',
        jobs: [
          {
            key: 'quotes',
            statement: garage.jobs[0]!.statement,
            desiredOutcome: garage.jobs[0]!.desired_outcome,
            examples: [],
          },
        ],
      },
    ]);
  });

  it('reports a bad entry with its index and field and still loads the good ones', async () => {
    // A bad job leaves out that job only: its customer and the customer's other jobs still load.
    const broken = {
      key: 'hollow-pines',
      name: 'Hollow Pines',
      jobs: [
        { key: 'bookings', statement: 'Fill the cabins' },
        { key: 'cleaning', statement: 'Turn a cabin around between guests', desired_outcome: '' },
      ],
    };
    const { customers, errors } = await parseCustomers(
      fixture('bad-entry.json', [bakery, broken, garage, { name: 'No Key', jobs: [] }]),
    );
    expect(customers.map((c) => c.key)).toEqual(['crumb-and-co', 'hollow-pines', 'northgate-garage']);
    // An empty desired outcome is one not written yet; a missing one is an error.
    expect(customers[1]!.jobs).toEqual([
      { key: 'cleaning', statement: broken.jobs[1]!.statement, desiredOutcome: '', examples: [] },
    ]);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({
      field: '[1].jobs[0].desired_outcome',
      message: expect.stringMatching(/^\[1\]\.jobs\[0\]\.desired_outcome: expected a string/),
    });
    expect(errors[1]).toMatchObject({ field: '[3].key' });
  });

  it('leaves out a job whose statement or outcome is longer than the jobs page takes', async () => {
    const long = 'Book a cabin '.repeat(40).trim(); // 519 characters
    const { customers, errors } = await parseCustomers(
      fixture('long-job.json', [
        {
          key: 'hollow-pines',
          name: 'Hollow Pines',
          jobs: [
            { key: 'bookings', statement: long, desired_outcome: '' },
            { key: 'stays', statement: 'Fill the cabins', desired_outcome: long },
            { key: 'cleaning', statement: 'Turn a cabin around', desired_outcome: 'x'.repeat(500) },
          ],
        },
      ]),
    );
    expect(customers[0]!.jobs.map((j) => j.key)).toEqual(['cleaning']);
    expect(errors.map((e) => e.field)).toEqual(['[0].jobs[0].statement', '[0].jobs[1].desired_outcome']);
    expect(errors[0]!.message).toContain('519 characters, expected at most 500');
  });

  it('names the line where a bad customer or a customer with a bad job starts', async () => {
    const { errors } = await parseCustomers(
      fixture(
        'lines.json',
        [
          '[',
          '  { "key": "crumb-and-co", "name": "Crumb & Co", "jobs": [] },',
          '  { "key": "hollow-pines", "name": "Hollow Pines",',
          '    "jobs": [{ "key": "stays", "statement": "" }] },',
          '',
          '  { "name": "No Key", "jobs": [] }',
          ']',
        ].join('\n'),
      ),
    );
    expect(errors.map((e) => [e.field, e.line])).toEqual([
      ['[1].jobs[0].statement', 3],
      ['[1].jobs[0].desired_outcome', 3],
      ['[2].key', 6],
    ]);
  });

  it('refuses a duplicate customer key and a duplicate job key', async () => {
    const twin = { ...garage, name: 'Northgate Garage (again)' };
    const doubleJob = { key: 'tidewater', name: 'Tidewater', jobs: [garage.jobs[0], garage.jobs[0]] };
    const { customers, errors } = await parseCustomers(fixture('dupes.json', [garage, twin, doubleJob]));
    // The second customer with a used key is left out; of a job key used twice, the second job.
    expect(customers.map((c) => c.name)).toEqual(['Northgate Garage', 'Tidewater']);
    expect(customers[1]!.jobs.map((j) => j.key)).toEqual(['quotes']);
    expect(errors.map((e) => e.field)).toEqual(['[1].key', '[2].jobs[1].key']);
    expect(errors[0]?.message).toMatch(/already used by entry \[0\]/);
  });

  it('reports invalid JSON with its line, and a file that is not a list', async () => {
    const bad = await parseCustomers(fixture('broken.json', '[\n  {"key": "a",\n  "name": }\n]'));
    expect(bad.customers).toEqual([]);
    expect(bad.errors[0]).toMatchObject({
      line: 3,
      message: expect.stringMatching(/invalid JSON.*expected a list of customers/),
    });
    const notList = await parseCustomers(fixture('object.json', { customers: [] }));
    expect(notList.errors[0]?.message).toMatch(/expected a JSON list of customers/);
  });

  it('refuses an empty file', async () => {
    const { errors } = await parseCustomers(fixture('empty.json', ''));
    expect(errors[0]?.message).toMatch(/empty/);
  });
});
