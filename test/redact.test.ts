import { describe, expect, it } from 'vitest';
import { createRedactor, ibanValid, luhnValid, redact, restore } from '../classifiers/redact.ts';

function roundTrip(text: string, speakerNames?: string[]) {
  const r = redact(text, { speakerNames });
  expect(restore(r.text, r.map)).toBe(text);
  return r;
}

describe('redact', () => {
  it('replaces e-mail addresses with stable placeholders and restores them', () => {
    const r = roundTrip(
      'Mail ops@kettle-bakery.example or ops@kettle-bakery.example, cc finn.o+bills@mail.example.',
    );
    expect(r.text).toBe('Mail [EMAIL_1] or [EMAIL_1], cc [EMAIL_2].');
    expect(r.map).toEqual({
      '[EMAIL_1]': 'ops@kettle-bakery.example',
      '[EMAIL_2]': 'finn.o+bills@mail.example',
    });
  });

  it('replaces phone numbers in the usual shapes', () => {
    const cases = [
      'Call me on +44 20 7946 0958 tomorrow.',
      'our office line is (415) 555-0134.',
      'ring 555-867-5309 after lunch',
      'Support reached me at 020 7946 0958.',
      'mobile: 0176 12345678',
      'whatsapp +49 176 1234 5678',
      'Tel:+33 1 23 45 67 89',
    ];
    for (const text of cases) {
      const r = roundTrip(text);
      expect(r.text, text).toMatch(/\[PHONE_1\]/);
      expect(r.text.replace('[PHONE_1]', ''), text).not.toMatch(/\d{3}/);
    }
  });

  it('replaces Luhn-valid card numbers and leaves Luhn-invalid ones', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    const r = roundTrip(
      'Charged twice on 4111 1111 1111 1111 and on 5555-5555-5555-4444, amex 378282246310005.',
    );
    expect(r.text).toBe('Charged twice on [CARD_1] and on [CARD_2], amex [CARD_3].');
    // A 16-digit number that fails Luhn is an id, not a card.
    expect(redact('Tracking 4111 1111 1111 1112 shows nothing', {}).text).toBe(
      'Tracking 4111 1111 1111 1112 shows nothing',
    );
  });

  it('finds a card followed by another number in the same run', () => {
    const r = roundTrip('card 4111 1111 1111 1111 2031 expired');
    expect(r.text).toBe('card [CARD_1] 2031 expired');
  });

  it('replaces IBANs that pass mod 97 and only those', () => {
    expect(ibanValid('DE89370400440532013000')).toBe(true);
    expect(ibanValid('DE89370400440532013001')).toBe(false);
    const r = roundTrip('Pay to DE89 3704 0044 0532 0130 00 and not GB82WEST12345698765432 again');
    expect(r.text).toBe('Pay to [IBAN_1] and not [IBAN_2] again');
    expect(redact('Ref DE12 3456 7890 1234 5678 90 is wrong', {}).text).toBe(
      'Ref DE12 3456 7890 1234 5678 90 is wrong',
    );
    // Passes mod 97 by chance, but a flight number followed by words is not an IBAN.
    expect(ibanValid('UA9364hrsagoisbetteroff')).toBe(true);
    expect(redact('Flight UA936 4hrs ago is better off', {}).text).toBe(
      'Flight UA936 4hrs ago is better off',
    );
  });

  it('replaces speaker names: full, first, and last after a title, case-insensitively and word-bounded', () => {
    const r = roundTrip(
      'Dana Whitfield here. DANA again; ask dana or Ms. Whitfield, not Danaher or Whitfield alone.',
      ['Dana Whitfield'],
    );
    expect(r.text).toBe(
      '[NAME_1] here. [NAME_2] again; ask [NAME_3] or Ms. [NAME_4], not Danaher or Whitfield alone.',
    );
    expect(r.map['[NAME_1]']).toBe('Dana Whitfield');
  });

  it('handles accented names and regex characters in names', () => {
    const r = roundTrip('José said hi to José Ñúñez and to J.R. (the other one).', ['José Ñúñez', 'J.R.']);
    expect(r.text).toBe('[NAME_1] said hi to [NAME_2] and to [NAME_3] (the other one).');
  });

  it('keeps dates, invoice numbers, amounts and versions', () => {
    const keep = [
      'Invoice INV-2024-00123 was due on 2024-03-15 and paid 15.03.2024.',
      'invoice 20240315 for $1,234.56 bounced',
      'We paid EUR 12 500 000 last year, about 1.250.000 per month.',
      'order #48213377 arrived; ticket 5551234567 still open',
      'The 12 500 000 € budget and 3 400 000 USD forecast',
      'Upgraded to 4.12.3 on 03/15/2024 at 10:30:45',
      'Our team of 12 exported 2500 rows in 3 minutes',
      'Account number 12345678 is not a phone number',
      'PO 4500012345 and receipt 9876543210',
    ];
    for (const text of keep) expect(redact(text, { speakerNames: ['Ola Berg'] }).text, text).toBe(text);
  });

  it('is deterministic and shares placeholders across texts of one redactor', () => {
    const text = 'Dana (dana@x.example, +1 415 555 0134) wrote to sam@x.example';
    expect(redact(text, { speakerNames: ['Dana Reyes'] })).toEqual(
      redact(text, { speakerNames: ['Dana Reyes'] }),
    );
    const r = createRedactor({ speakerNames: ['Dana Reyes'] });
    expect(r.redact('From dana@x.example')).toBe('From [EMAIL_1]');
    expect(r.redact('Reply to dana@x.example and Dana')).toBe('Reply to [EMAIL_1] and [NAME_1]');
  });

  it('never reuses a placeholder that already appears in the text', () => {
    const text = 'The literal [EMAIL_1] stays; a@b.example goes';
    const r = roundTrip(text);
    expect(r.text).toBe('The literal [EMAIL_1] stays; [EMAIL_2] goes');
  });

  it('restore leaves unknown placeholders alone', () => {
    expect(restore('[NAME_1] met [NAME_9]', { '[NAME_1]': 'Ana' })).toBe('Ana met [NAME_9]');
  });
});
