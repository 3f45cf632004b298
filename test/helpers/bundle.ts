/**
 * A small invented feedback bundle (BUNDLE.md layout) written into a temp folder, with overrides
 * for the rows a test needs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './db.ts';

export interface Ticket {
  id: number;
  customer: string;
  created_at: string;
  subject: string;
  description: string;
  tags: string[];
  group: string;
  comments: { author_role: 'customer' | 'agent'; body: string; created_at: string }[];
}

export const CUSTOMERS = [
  {
    key: 'kiln-cafe',
    name: 'Kiln Café',
    jobs: [
      {
        key: 'table-bookings',
        statement: 'Fill every table on weekend evenings without double bookings',
        desired_outcome: 'Minimize the number of empty tables on Friday and Saturday nights',
        examples: [
          'Guests book a table online and the slot is held for them',
          'No two parties get the same table',
        ],
      },
      {
        key: 'staff-rota',
        statement: 'Plan the staff rota for the week without phoning everyone',
        desired_outcome: 'Minimize the hours spent building the weekly rota',
        examples: ['Staff swap shifts in the app', 'The rota is published by Wednesday'],
      },
    ],
  },
  {
    key: 'north-gym',
    name: 'North Gym',
    jobs: [
      {
        key: 'class-signups',
        statement: 'Let members sign up for classes from their phone',
        desired_outcome: 'Minimize the number of classes that run half empty',
        examples: ['Members reserve a spot in spin class from the app'],
      },
    ],
  },
];

/** A lead's rewording of kiln-cafe's staff-rota job on the jobs page (db/reviews.ts saveJob). */
export const ROTA_REWORDED = {
  key: 'staff-rota',
  statement: 'Publish the weekly rota by Wednesday',
  desiredOutcome: 'Minimize hours spent on it',
  who: 'lead@test',
  create: false,
};

export function ticket(over: Partial<Ticket> & { id: number }): Ticket {
  return {
    customer: 'kiln-cafe',
    created_at: '2026-03-02T09:00:00Z',
    subject: `Question ${over.id}`,
    description: 'How do I move a booking to another table?',
    tags: ['bookings'],
    group: 'Support',
    comments: [],
    ...over,
  };
}

export const TICKETS: Ticket[] = [
  ticket({
    id: 101,
    subject: 'Double booking again',
    description:
      'Two parties were given table 4 on Saturday. We cannot trust the booking page any more and are looking at other tools.',
    tags: ['bookings', 'double_booking'],
    group: 'Bookings',
  }),
  ticket({
    id: 102,
    subject: 'Same table twice',
    description: 'Another double booking on Friday: table 7 was sold to two groups. We had to turn one away.',
    tags: ['double_booking'],
    group: 'Bookings',
  }),
  ticket({
    id: 103,
    subject: 'Rota takes hours',
    description:
      'Building the rota every week still takes me three hours because I have to phone everyone by hand.',
    tags: ['rota'],
    group: 'Scheduling',
  }),
  ticket({
    id: 104,
    customer: 'north-gym',
    subject: 'Love the new class app',
    description: 'Members love signing up for spin from their phones. Thank you, it saved us so much time!',
    tags: ['classes'],
    group: 'Support',
  }),
];

export const SURVEY_ROWS = [
  [
    'S-1',
    'kiln-cafe',
    '2026-03-05T10:00:00Z',
    'What would you improve?',
    'Let guests pick their own table when they book online',
    '7',
  ],
  [
    'S-2',
    'kiln-cafe',
    '2026-03-05T11:00:00Z',
    'What is the main reason for your score?',
    'Online bookings fill our weekends, really great',
    '9',
  ],
  [
    'S-3',
    'north-gym',
    '2026-03-06T08:30:00Z',
    'What would you improve?',
    'Waiting lists for full classes, "please"',
    '',
  ],
];

export function csvLine(cells: string[]): string {
  return cells.map((c) => (/[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',');
}

export const TRANSCRIPT_VTT = `WEBVTT

00:00:01.000 --> 00:00:04.000
<v Ana Ruiz>Thanks for joining. How do weekends go?

00:00:05.000 --> 00:00:09.000
<v Tom Baker>Busy. The booking page fills the room on Saturdays,

00:00:09.500 --> 00:00:12.000
<v Tom Baker>but twice this month two parties got the same table.

00:00:13.000 --> 00:00:15.000
<v Ana Ruiz>What happens then?

00:00:16.000 --> 00:00:20.000
<v Tom Baker>I give one of them free drinks and apologise. It is embarrassing.
`;

export interface BundleOptions {
  tickets?: Ticket[];
  ticketLines?: string[];
  surveyRows?: string[][];
  transcripts?: boolean;
}

export function writeBundle(opts: BundleOptions = {}, dir = tempDir('gapmap-bundle-')): string {
  fs.writeFileSync(path.join(dir, 'customers.json'), JSON.stringify(CUSTOMERS, null, 2));
  const lines = opts.ticketLines ?? (opts.tickets ?? TICKETS).map((t) => JSON.stringify(t));
  fs.writeFileSync(path.join(dir, 'tickets.jsonl'), lines.join('\n') + '\n');
  const rows = opts.surveyRows ?? SURVEY_ROWS;
  fs.writeFileSync(
    path.join(dir, 'surveys.csv'),
    [
      csvLine(['response_id', 'customer', 'submitted_at', 'question', 'answer', 'score']),
      ...rows.map(csvLine),
    ].join('\n') + '\n',
  );
  if (opts.transcripts !== false) {
    fs.mkdirSync(path.join(dir, 'transcripts'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'transcripts', 'kiln-owner.vtt'), TRANSCRIPT_VTT);
    fs.writeFileSync(
      path.join(dir, 'transcripts', 'index.json'),
      JSON.stringify([
        {
          file: 'kiln-owner.vtt',
          customer: 'kiln-cafe',
          interviewed_at: '2026-03-10',
          customer_speakers: ['Tom Baker'],
        },
      ]),
    );
  }
  return dir;
}
