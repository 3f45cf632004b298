/**
 * Writes classifiers/training/kind-sentiment.jsonl: invented feedback sentences about many kinds of
 * products and jobs, each labelled with a kind and a sentiment. Sentences are written by us from
 * templates and slot values below; nothing is taken from ../shared/data. Deterministic (seeded), so
 * re-running it reproduces the shipped file:
 *   node bin/run-ts.js classifiers/training/generate.ts
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Domain {
  brand: string;
  handle: string;
  /** Things the customer does with it: "send an invoice" */
  tasks: string[];
  /** Same tasks in past tense: "sent the invoice" */
  done: string[];
  /** Parts of the product: "the reminder emails" */
  features: string[];
  /** Places and channels: "the mobile app" */
  channels: string[];
  /** Things that go wrong: "the sync fails" */
  problems: string[];
  /** Things they want and can't do: "split a bill between two people" */
  missing: string[];
  /** Good outcomes: "clients pay within a day" */
  wins: string[];
  people: string[];
}

const D: Domain[] = [
  {
    brand: 'Ledgerly',
    handle: '@ledgerly',
    tasks: [
      'send an invoice',
      'chase a late payment',
      'record a payment',
      'export the month to our accountant',
    ],
    done: ['sent the invoice', 'got paid', 'closed the month', 'matched the payments'],
    features: [
      'the reminder emails',
      'the payment link',
      'the bank feed',
      'the invoice templates',
      'the aging report',
    ],
    channels: ['the web dashboard', 'the phone app', 'the email link', 'the desktop app'],
    problems: [
      'the bank feed stops syncing',
      'the totals come out wrong',
      'the PDF loses the logo',
      'payments show up twice',
    ],
    missing: [
      'invoice in euros',
      'split one invoice into deposits',
      'send the invoice by text message',
      'see what each client still owes in one place',
    ],
    wins: [
      'clients pay within two days',
      'I stopped chasing people by phone',
      'the month closes in an afternoon',
      'late payments dropped by half',
    ],
    people: ['our bookkeeper', 'Marta', 'the office manager'],
  },
  {
    brand: 'SkyHop Air',
    handle: '@SkyHopAir',
    tasks: [
      'change my flight',
      'check in online',
      'pick a seat',
      'get a refund for a cancelled flight',
      'add a bag',
    ],
    done: ['rebooked me', 'checked in', 'landed early', 'found my bag'],
    features: [
      'the app boarding pass',
      'the rebooking page',
      'the loyalty points',
      'the inflight wifi',
      'the customer service line',
    ],
    channels: ['the app', 'the website', 'the airport kiosk', 'the phone line', 'the gate desk'],
    problems: [
      'the flight is delayed again',
      'my bag went to the wrong city',
      'the hold time is two hours',
      'the app logs me out at check in',
    ],
    missing: [
      'change a flight online without calling',
      'get a refund instead of a voucher',
      'select seats for my kids together',
      'reach anyone on the phone',
    ],
    wins: [
      'the crew was amazing',
      'we landed twenty minutes early',
      'the gate agent got me on the earlier flight',
      'my upgrade came through',
    ],
    people: ['the gate agent', 'my wife', 'the flight attendant'],
  },
  {
    brand: 'Plateful',
    handle: '@plateful',
    tasks: ['order dinner', 'track my delivery', 'get a refund for a missing item', 'schedule an order'],
    done: ['delivered', 'refunded the missing drink', 'brought the order hot'],
    features: ['the live tracking map', 'the courier chat', 'the promo codes', 'the reorder button'],
    channels: ['the app', 'the website', 'the support chat'],
    problems: [
      'the order arrives cold',
      'the courier cannot find the building',
      'the promo code never works',
      'items go missing',
    ],
    missing: [
      'leave a note for the courier',
      'pay with two cards',
      'order for a group and split the bill',
      'talk to a human about a wrong order',
    ],
    wins: [
      'the food arrived in fifteen minutes',
      'support refunded me right away',
      'reordering takes one tap',
    ],
    people: ['my roommate', 'the courier', 'my kids'],
  },
  {
    brand: 'Crewboard',
    handle: '@crewboard',
    tasks: [
      'plan the week for the crews',
      'assign a job to a crew',
      'log hours from the site',
      'send the schedule to everyone',
    ],
    done: ['planned the week', 'assigned the jobs', 'sent the schedule'],
    features: [
      'the drag and drop calendar',
      'the timesheets',
      'the crew app',
      'the job templates',
      'the offline mode',
    ],
    channels: ['the tablet in the truck', 'the office computer', 'the crew app', 'the text alerts'],
    problems: [
      'the calendar freezes when I drag a job',
      'hours get lost when there is no signal',
      'the crew app drains the battery',
    ],
    missing: [
      'copy last week into this week',
      'work offline on the site',
      'see two crews side by side',
      'attach photos to a job',
    ],
    wins: [
      'the crews know where to be without a phone call',
      'payroll takes ten minutes now',
      'nobody shows up at the wrong site anymore',
    ],
    people: ['the foreman', 'Dave', 'our dispatcher'],
  },
  {
    brand: 'Clinicly',
    handle: '@clinicly',
    tasks: [
      'book an appointment',
      'send a reminder to patients',
      'take a payment at the front desk',
      'check insurance coverage',
    ],
    done: ['booked the patient', 'took the payment', 'filled the cancelled slot'],
    features: ['the appointment reminders', 'the card reader', 'the patient portal', 'the waitlist'],
    channels: ['the front desk computer', 'the patient portal', 'the text reminders', 'the card reader'],
    problems: [
      'the card reader disconnects',
      'reminders go out at the wrong time',
      'the portal rejects valid insurance numbers',
    ],
    missing: [
      'text patients their balance',
      'set up a payment plan',
      'book two family members at once',
      'see all four clinics in one report',
    ],
    wins: [
      'no-shows dropped a lot',
      'patients book themselves at night',
      'the front desk stopped making reminder calls',
    ],
    people: ['the receptionist', 'Dr. Patel', 'our practice manager'],
  },
  {
    brand: 'Payroo',
    handle: '@payroo',
    tasks: ['run payroll', 'add a new hire', 'file the quarterly tax forms', 'approve timesheets'],
    done: ['ran payroll', 'paid everyone on time', 'filed the forms'],
    features: ['the payroll run', 'the onboarding checklist', 'the tax filing', 'the employee self service'],
    channels: ['the admin dashboard', 'the employee app', 'email'],
    problems: [
      'payroll gets stuck on approval',
      'the tax form has the wrong address',
      'overtime is calculated wrong',
    ],
    missing: [
      'pay contractors in another country',
      'run an off-cycle payroll',
      'give managers approval rights without admin access',
    ],
    wins: [
      'payroll takes five minutes',
      'new hires set themselves up',
      'everyone got paid on time through the holidays',
    ],
    people: ['our HR lead', 'Priya', 'the finance team'],
  },
  {
    brand: 'Shopnest',
    handle: '@shopnest',
    tasks: ['list a new product', 'ship an order', 'print shipping labels', 'handle a return'],
    done: ['shipped the orders', 'printed the labels', 'launched the sale'],
    features: [
      'the label printer integration',
      'the inventory sync',
      'the discount codes',
      'the storefront themes',
    ],
    channels: ['the seller dashboard', 'the mobile seller app', 'the storefront'],
    problems: ['inventory goes out of sync', 'labels print sideways', 'the checkout page loads slowly'],
    missing: [
      'sell in more than one currency',
      'bundle two products',
      'let customers pick a delivery date',
      'bulk edit prices',
    ],
    wins: [
      'sales doubled during the launch',
      'shipping takes half the time',
      'the new theme looks great on phones',
    ],
    people: ['my business partner', 'the warehouse guy', 'Lena'],
  },
  {
    brand: 'Wavely Mobile',
    handle: '@WavelyMobile',
    tasks: ['top up my plan', 'port my number', 'check my data usage', 'pay my bill'],
    done: ['ported my number', 'fixed my signal', 'refunded the roaming charge'],
    features: ['the data tracker', 'the roaming pass', 'the billing page', 'the chat support'],
    channels: ['the app', 'the store', 'the support line', 'the website'],
    problems: ['the signal drops in my building', 'I get charged twice', 'the app shows the wrong balance'],
    missing: ['pause my plan while abroad', 'share data with my family', 'get an itemised bill'],
    wins: [
      'the switch took ten minutes',
      'support fixed my bill in one call',
      'coverage is great everywhere I go',
    ],
    people: ['my dad', 'the store clerk', 'the agent'],
  },
  {
    brand: 'TaskTrail',
    handle: '@tasktrail',
    tasks: ['plan a sprint', 'assign tasks', 'track time on a project', 'report progress to the client'],
    done: ['shipped the release', 'closed the sprint', 'sent the status report'],
    features: ['the board view', 'the time tracker', 'the client reports', 'the integrations', 'the search'],
    channels: ['the browser', 'the desktop app', 'Slack', 'the weekly email'],
    problems: ['the board gets slow with many cards', 'search misses tasks', 'notifications arrive twice'],
    missing: [
      'set dependencies between tasks',
      'share a board with a client without a paid seat',
      'report hours per client',
    ],
    wins: [
      'the team finally sees who is doing what',
      'status meetings got shorter',
      'client reports build themselves',
    ],
    people: ['our project manager', 'Tom', 'the designers'],
  },
  {
    brand: 'StayWell Hotels',
    handle: '@StayWellHotels',
    tasks: ['book a room', 'check in early', 'cancel a booking', 'get a receipt for my stay'],
    done: ['upgraded our room', 'let us check in early', 'sent the receipt'],
    features: [
      'the mobile key',
      'the booking page',
      'the breakfast',
      'the front desk',
      'the loyalty program',
    ],
    channels: ['the app', 'the front desk', 'the website', 'email'],
    problems: [
      'the mobile key stops working',
      'the room was not ready',
      'the booking vanished from my account',
    ],
    missing: ['pick a room with a view', 'cancel without calling', 'add a second guest online'],
    wins: ['the staff remembered our anniversary', 'check in took one minute', 'the room was spotless'],
    people: ['the concierge', 'my husband', 'the night manager'],
  },
  {
    brand: 'Coverly Insurance',
    handle: '@coverly',
    tasks: ['file a claim', 'upload photos of the damage', 'update my policy', 'get proof of insurance'],
    done: ['paid the claim', 'approved the repair', 'sent the certificate'],
    features: ['the claim tracker', 'the photo upload', 'the policy documents', 'the adjuster calls'],
    channels: ['the app', 'the phone line', 'the website', 'email'],
    problems: ['the claim sits in review for weeks', 'the photo upload fails', 'nobody calls back'],
    missing: ['see where my claim is', 'add a driver online', 'pay monthly instead of yearly'],
    wins: [
      'the claim was paid in three days',
      'the adjuster was kind and quick',
      'the new policy costs less',
    ],
    people: ['the adjuster', 'my neighbour', 'our broker'],
  },
  {
    brand: 'Learnloop',
    handle: '@learnloop',
    tasks: ['grade assignments', 'post a lesson', 'message parents', 'take attendance'],
    done: ['graded the essays', 'posted the lesson', 'reached every parent'],
    features: ['the gradebook', 'the parent messages', 'the quiz builder', 'the attendance sheet'],
    channels: ['the teacher dashboard', 'the student app', 'the parent app'],
    problems: ['the gradebook loses comments', 'quizzes time out', 'messages reach parents a day late'],
    missing: ['grade with a rubric', 'export grades to the district system', 'message a whole class at once'],
    wins: [
      'grading takes half the time',
      'parents actually read the messages now',
      'students love the quizzes',
    ],
    people: ['the principal', 'Ms. Rivera', 'a parent'],
  },
  {
    brand: 'Fitbloom',
    handle: '@fitbloom',
    tasks: ['log a workout', 'book a class', 'sync my watch', 'track my progress'],
    done: ['hit my goal', 'booked the class', 'synced the watch'],
    features: ['the workout plans', 'the class booking', 'the watch sync', 'the progress charts'],
    channels: ['the app', 'the watch', 'the gym kiosk'],
    problems: ['the watch sync fails every other day', 'classes fill up in seconds', 'the charts reset'],
    missing: ['pause my membership', 'share workouts with a friend', 'export my data'],
    wins: ['I ran my first 10k', 'the coach plans keep me going', 'I finally stuck to a routine'],
    people: ['my trainer', 'my sister', 'the coach'],
  },
  {
    brand: 'Mailbird CRM',
    handle: '@mailbirdcrm',
    tasks: ['send a campaign', 'follow up with a lead', 'import contacts', 'build a segment'],
    done: ['sent the campaign', 'closed the deal', 'imported the list'],
    features: ['the email builder', 'the lead scoring', 'the contact import', 'the pipeline view'],
    channels: ['the web app', 'the Gmail plugin', 'the phone app'],
    problems: ['the import drops half the columns', 'emails land in spam', 'the pipeline view will not load'],
    missing: ['send texts as well as emails', 'merge duplicate contacts', 'schedule a campaign by time zone'],
    wins: ['open rates went up', 'the team closes deals faster', 'follow ups happen without me'],
    people: ['our sales lead', 'Jamal', 'the marketing intern'],
  },
  {
    brand: 'RideRoo',
    handle: '@rideroo',
    tasks: ['book a ride', 'schedule a pickup', 'get a receipt', 'report a lost item'],
    done: ['picked me up', 'got me to the airport', 'refunded the fare'],
    features: ['the fare estimate', 'the driver rating', 'the scheduled rides', 'the receipts'],
    channels: ['the app', 'the help center', 'email'],
    problems: [
      'drivers cancel at the last minute',
      'the fare doubles at the end',
      'the pin drops in the wrong place',
    ],
    missing: ['book a car seat', 'split the fare', 'reach support by phone'],
    wins: [
      'the driver was there in two minutes',
      'the ride was clean and smooth',
      'I got a refund without asking twice',
    ],
    people: ['the driver', 'my colleague', 'my mom'],
  },
  {
    brand: 'Stocksy WMS',
    handle: '@stocksywms',
    tasks: ['receive a delivery', 'count stock', 'pick an order', 'move pallets between bins'],
    done: ['counted the stock', 'shipped the orders', 'received the delivery'],
    features: ['the barcode scanner', 'the cycle counts', 'the pick lists', 'the bin map'],
    channels: ['the handheld scanner', 'the warehouse PC', 'the tablet on the forklift'],
    problems: [
      'the scanner freezes in the freezer room',
      'counts do not match',
      'pick lists print in the wrong order',
    ],
    missing: ['scan two barcodes at once', 'track lot numbers', 'work without wifi in the back'],
    wins: ['mis-picks are almost gone', 'the stock count takes one morning', 'new staff learn it in a day'],
    people: ['the shift lead', 'Carlos', 'the pickers'],
  },
  {
    brand: 'Streamly',
    handle: '@streamly',
    tasks: ['watch a show', 'download an episode', 'change my plan', 'cancel my subscription'],
    done: ['fixed the buffering', 'refunded the double charge'],
    features: ['the downloads', 'the recommendations', 'the profiles', 'the subtitles'],
    channels: ['the TV app', 'the phone app', 'the website'],
    problems: ['the video keeps buffering', 'subtitles are out of sync', 'the TV app crashes'],
    missing: ['download on more than two devices', 'turn off autoplay', 'cancel online'],
    wins: ['the new series is fantastic', 'downloads saved my flight', 'the kids profile is perfect'],
    people: ['my kids', 'my partner'],
  },
  {
    brand: 'Homebase Thermo',
    handle: '@homebasethermo',
    tasks: ['set a heating schedule', 'control the heat from my phone', 'see my energy use'],
    done: ['installed it', 'cut our bill', 'set the schedule'],
    features: ['the schedule', 'the energy report', 'the away mode', 'the phone app'],
    channels: ['the phone app', 'the wall unit', 'the voice assistant'],
    problems: [
      'it goes offline every night',
      'the schedule resets after an update',
      'the app takes ages to connect',
    ],
    missing: [
      'control two houses from one account',
      'set different rooms separately',
      'give my tenant access',
    ],
    wins: ['our heating bill dropped', 'the house is warm when we get home', 'setup took ten minutes'],
    people: ['my landlord', 'the installer', 'my partner'],
  },
];

type Kind = 'touchpoint' | 'high_point' | 'friction' | 'value_gap' | 'other';
type Sent = 'negative' | 'neutral' | 'positive';
type T = (d: Domain, r: Rng) => string;

class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (this.s * 1664525 + 1013904223) >>> 0;
    return this.s / 2 ** 32;
  }
  pick<X>(xs: X[]): X {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const strip = (s: string) => s.replace(/^the /, '');

const templates: { kind: Kind; sentiment: Sent; make: T[] }[] = [
  {
    kind: 'touchpoint',
    sentiment: 'neutral',
    make: [
      (d, r) => `We mostly use ${r.pick(d.channels)} to ${r.pick(d.tasks)}.`,
      (d, r) => `I ${r.pick(d.tasks)} from ${r.pick(d.channels)}, usually first thing on Monday.`,
      (d, r) =>
        `${cap(r.pick(d.people))} is the one who uses ${r.pick(d.features)}; I only look at it now and then.`,
      (d, r) =>
        `Question about ${strip(r.pick(d.features))}\nHi, how do I ${r.pick(d.tasks)} from ${r.pick(d.channels)}? Thanks`,
      (d, r) => `${d.handle} can I ${r.pick(d.tasks)} through ${r.pick(d.channels)}?`,
      (d, r) => `${d.handle} what time does ${strip(r.pick(d.channels))} support open tomorrow?`,
      (d, r) => `She does everything on ${r.pick(d.channels)}, she never touches ${r.pick(d.channels)}.`,
      (d, r) => `They ${r.pick(d.tasks)} once a week, normally on ${r.pick(d.channels)}.`,
      (d, r) =>
        `Quick question: does ${r.pick(d.features)} work on ${r.pick(d.channels)} too, or only in the browser?`,
      (d, r) =>
        `Most of the time it's ${r.pick(d.people)} who handles it. I just check ${r.pick(d.features)} at the end of the month.`,
      (d, r) =>
        `We started with ${d.brand} last spring for ${strip(r.pick(d.features))} and a couple of other things.`,
      (d, r) => `Where do I find ${r.pick(d.features)}? I want to ${r.pick(d.tasks)} before Friday.`,
      (d, r) => `He keeps ${r.pick(d.channels)} open all day and checks ${r.pick(d.features)} between calls.`,
      (d, r) => `${d.handle} is ${r.pick(d.features)} included in the basic plan?`,
      (d, r) =>
        `Setting up ${strip(r.pick(d.features))}\nWe're new here. Is there a guide for how to ${r.pick(d.tasks)}?`,
      (d, r) => `Mainly to ${r.pick(d.tasks)}.`,
      (d, r) => `I use it to ${r.pick(d.tasks)} and to ${r.pick(d.tasks)}.`,
      (d, r) =>
        `The team walked me through how they ${r.pick(d.tasks)}: ${r.pick(d.channels)} first, then a quick look at ${r.pick(d.features)}.`,
    ],
  },
  {
    kind: 'touchpoint',
    sentiment: 'positive',
    make: [
      (d, r) => `We use ${r.pick(d.channels)} every day and it does the job nicely.`,
      (d, r) => `I mostly ${r.pick(d.tasks)} on ${r.pick(d.channels)}, which works well for us.`,
    ],
  },
  {
    kind: 'high_point',
    sentiment: 'positive',
    make: [
      (d, r) => `${cap(r.pick(d.features))} saves me hours every week.`,
      (d, r) => `Since we started using ${d.brand}, ${r.pick(d.wins)}.`,
      (d, r) => `Honestly the best part is ${r.pick(d.features)}. ${cap(r.pick(d.wins))}.`,
      (d, r) => `${d.handle} thank you! ${cap(r.pick(d.wins))} 🙌`,
      (d, r) => `${d.handle} you guys ${r.pick(d.done)} in no time, amazing service!`,
      (d, r) => `Love how easy it is to ${r.pick(d.tasks)} now.`,
      (d, r) => `${cap(r.pick(d.people))} was thrilled: ${r.pick(d.wins)}.`,
      (d, r) => `She lit up when she showed us ${r.pick(d.features)}; she said ${r.pick(d.wins)}.`,
      (d, r) => `He said the switch paid for itself because ${r.pick(d.wins)}.`,
      (d, r) => `Great experience today, ${r.pick(d.people)} ${r.pick(d.done)} without any fuss.`,
      (d, r) => `It just works. ${cap(r.pick(d.wins))}, and I don't have to think about it.`,
      (d, r) =>
        `Thank you for ${r.pick(d.features)}\nJust wanted to say it made a real difference: ${r.pick(d.wins)}.`,
      (d, r) => `What I like most is that ${r.pick(d.wins)}.`,
      (d, r) => `Easy to use and ${r.pick(d.wins)}.`,
      (d, r) => `${d.handle} best ${strip(r.pick(d.features))} ever. ${cap(r.pick(d.wins))}!`,
      (d, r) => `The moment it clicked was when ${r.pick(d.wins)}. That's why we stay.`,
      (d, r) => `Really impressed, ${r.pick(d.wins)}. Keep it up!`,
      (d, r) => `Our ${strip(r.pick(d.people))} says ${r.pick(d.features)} is the thing she would miss most.`,
    ],
  },
  {
    kind: 'friction',
    sentiment: 'negative',
    make: [
      (d, r) => `It takes forever to ${r.pick(d.tasks)} because ${r.pick(d.problems)}.`,
      (d, r) => `Every week ${r.pick(d.problems)} and I have to redo it by hand. Annoying, but I get there.`,
      (d, r) => `${cap(r.pick(d.features))} is slow and clunky. I manage, but it wastes my morning.`,
      (d, r) => `${d.handle} again?! ${cap(r.pick(d.problems))}. So frustrating.`,
      (d, r) => `${d.handle} third time this month ${r.pick(d.problems)}. Fix it please`,
      (d, r) =>
        `${cap(r.pick(d.problems))}\nThis happened again today. I worked around it but it cost me an hour. Can you look at it?`,
      (d, r) => `She has to ${r.pick(d.tasks)} twice because ${r.pick(d.problems)}.`,
      (d, r) =>
        `He showed us the workaround: when ${r.pick(d.problems)}, he restarts ${r.pick(d.channels)} and tries again.`,
      (d, r) => `The worst part is that ${r.pick(d.problems)}. We still get it done, just slower.`,
      (d, r) => `Too many clicks to ${r.pick(d.tasks)}.`,
      (d, r) => `Ugh, ${r.pick(d.problems)} and the wait on ${r.pick(d.channels)} is ridiculous.`,
      (d, r) => `${d.handle} been on hold for an hour trying to ${r.pick(d.tasks)}. Terrible.`,
      (d, r) => `I lose about half an hour a day because ${r.pick(d.problems)}.`,
      (d, r) => `It's a pain: ${r.pick(d.problems)}, so ${r.pick(d.people)} double-checks everything.`,
      (d, r) => `We keep a spreadsheet on the side because ${r.pick(d.features)} is so fiddly.`,
      (d, r) => `${d.handle} worst experience, ${r.pick(d.problems)} and nobody seems to care`,
      (d, r) => `Not happy. ${cap(r.pick(d.problems))} and it took three emails to sort out.`,
    ],
  },
  {
    kind: 'friction',
    sentiment: 'neutral',
    make: [
      (d, r) => `It would help if ${r.pick(d.features)} remembered my last settings.`,
      (d, r) => `Small thing: ${r.pick(d.features)} could be quicker to find.`,
      (d, r) => `Faster ${strip(r.pick(d.features))}.`,
      (d, r) => `More options in ${r.pick(d.features)}.`,
      (d, r) => `Sometimes ${r.pick(d.problems)}, then I just try again later.`,
      (d, r) => `Maybe make it easier to ${r.pick(d.tasks)} from ${r.pick(d.channels)}.`,
      (d, r) =>
        `${cap(r.pick(d.people))} mentioned that ${r.pick(d.problems)} now and then, and she works around it.`,
      (d, r) => `The only thing I'd change is how many steps it takes to ${r.pick(d.tasks)}.`,
      (d, r) => `Is there a shortcut to ${r.pick(d.tasks)}? Right now I go through three screens each time.`,
      (d, r) => `We re-type a few fields when we ${r.pick(d.tasks)}; it's manageable.`,
      (d, r) => `A bulk option for ${strip(r.pick(d.features))} would be nice.`,
      (d, r) =>
        `Now and then ${r.pick(d.problems)}, so he checks ${r.pick(d.features)} by hand before sending.`,
    ],
  },
  {
    kind: 'value_gap',
    sentiment: 'negative',
    make: [
      (d, r) => `I can't ${r.pick(d.missing)}, so we're looking at other tools.`,
      (d, r) => `If we can't ${r.pick(d.missing)} by the end of the quarter, we'll have to switch.`,
      (d, r) => `There's no way to ${r.pick(d.missing)}, which is a dealbreaker for us.`,
      (d, r) => `We are leaving for a competitor because you still can't ${r.pick(d.missing)}.`,
      (d, r) => `${d.handle} why can't I ${r.pick(d.missing)}?? Unacceptable.`,
      (d, r) =>
        `${d.handle} you cancelled my flight and I can't ${r.pick(d.missing)}. Never again.`.replace(
          'you cancelled my flight and ',
          d.handle === '@SkyHopAir' ? 'you cancelled my flight and ' : '',
        ),
      (d, r) => `She can't ${r.pick(d.missing)}, so half of them never get done.`,
      (d, r) => `He said they'd drop ${d.brand} tomorrow if someone else let them ${r.pick(d.missing)}.`,
      (d, r) =>
        `Need to ${r.pick(d.missing)}\nWe really need this. Without it we can't keep using ${d.brand} for this part of the business.`,
      (d, r) => `${cap(r.pick(d.problems))} and I lost the whole thing. I can't trust it anymore.`,
      (d, r) => `Cancelling. ${cap(r.pick(d.problems))} and support never answered.`,
      (d, r) =>
        `We can't ${r.pick(d.missing)}, so we do that part outside the app and it's costing us customers.`,
      (d, r) =>
        `The app can't ${r.pick(d.missing)}. That's the reason we're reviewing other options this month.`,
      (d, r) => `${d.handle} still no way to ${r.pick(d.missing)}. Done with you.`,
      (d, r) => `Unable to ${r.pick(d.tasks)} at all since the update. This is costing us money.`,
      (d, r) => `Our contract is up in June and unless we can ${r.pick(d.missing)} we won't renew.`,
    ],
  },
  {
    kind: 'value_gap',
    sentiment: 'neutral',
    make: [
      (d, r) => `Is there a way to ${r.pick(d.missing)}? I couldn't find one.`,
      (d, r) => `There's no option to ${r.pick(d.missing)}, so we do it in a spreadsheet.`,
      (d, r) => `Being able to ${r.pick(d.missing)}.`,
      (d, r) =>
        `Can you ${r.pick(d.missing)}?\nA few of our customers ask for this. Is it possible or planned?`,
      (d, r) => `She would like to ${r.pick(d.missing)}; today it isn't possible, so she keeps a paper list.`,
      (d, r) =>
        `They can't ${r.pick(d.missing)} yet. Right now ${r.pick(d.people)} handles it outside the system.`,
      (d, r) => `${d.handle} is it possible to ${r.pick(d.missing)}?`,
      (d, r) =>
        `Does ${d.brand} let you ${r.pick(d.missing)}? We need that before rolling it out to everyone.`,
      (d, r) => `The one thing missing for us is a way to ${r.pick(d.missing)}.`,
    ],
  },
  {
    kind: 'other',
    sentiment: 'neutral',
    make: [
      () => `Sure, go ahead.`,
      () => `Hi, can you hear me okay?`,
      () => `Sorry, I have to jump to another call in five minutes.`,
      (d, r) =>
        `Please update the email on our account to ${r.pick(['accounts', 'office', 'billing', 'admin'])}@ our domain.`,
      (d) =>
        `Receipt for our subscription\nCould you send a receipt for last month's ${d.brand} plan? Our accountant needs it.`,
      (d) => `Our company card changed. Where do I update it for our ${d.brand} subscription?`,
      (d) => `Is this email really from ${d.brand}? It asks me to confirm my password through a link.`,
      () => `I can't log in\nThe login code never arrives on my new phone. Can you reset it?`,
      () => `Visit on a Tuesday morning with the owner and two of her staff; we spent about an hour on site.`,
      () => `Background: family business, about twenty people, second generation running it.`,
      () => `Okay, that's all from me. Talk soon.`,
      () => `Let me check with my colleague and get back to you.`,
      (d) => `${d.handle} do you have an office in Chicago?`,
      () => `We also talked about the weather and their new puppy for a bit.`,
      () => `He's been in the trade for about fifteen years.`,
      (d, r) => `Could you add ${r.pick(d.people)} as a second admin on our account?`,
      () => `Yes, that's right.`,
      () => `Hmm, good question, let me think.`,
      () => `n/a`,
      () => `Nothing else to add.`,
      () => `Sorry, the dog is barking, one second.`,
      () => `Hello, I'm covering for my colleague this week.`,
      (d) => `${d.handle} following you now`,
      () => `The interview was rescheduled twice before we met.`,
      () => `Can we switch our plan to annual billing?`,
    ],
  },
  {
    kind: 'other',
    sentiment: 'positive',
    make: [
      () => `Thanks so much for your time today!`,
      () => `Great chatting with you, have a lovely weekend.`,
      (d) => `${d.handle} happy holidays to the whole team!`,
      () => `Thank you, that answers my question.`,
      () => `Thanks to the agent who stayed on the phone with me yesterday, really kind of her.`,
    ],
  },
  {
    kind: 'other',
    sentiment: 'negative',
    make: [
      () => `I'm locked out of my account and it's driving me mad.`,
      (d) => `${d.handle} your ad is so annoying, please stop showing it to me.`,
    ],
  },
];

const PER_TEMPLATE = 7;

function generate(): { text: string; kind: Kind; sentiment: Sent; group: string }[] {
  const rng = new Rng(20260525);
  const out = new Map<string, { text: string; kind: Kind; sentiment: Sent; group: string }>();
  for (const [g, group] of templates.entries()) {
    for (const [m, make] of group.make.entries()) {
      for (let i = 0; i < PER_TEMPLATE; i++) {
        const text = make(rng.pick(D), rng).replace(/\s+([.,!?])/g, '$1');
        // group names the template, so calibration can hold out whole phrasings at a time.
        out.set(text, { text, kind: group.kind, sentiment: group.sentiment, group: `t${g}.${m}` });
      }
    }
  }
  return [...out.values()];
}

{
  const rows = generate();
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kind-sentiment.jsonl');
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  console.log(`wrote ${rows.length} examples to ${file}`);
}
