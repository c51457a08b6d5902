import { describe, expect, it } from 'vitest';
import { chooseFrom, sampleInSlices, sampleOf } from '../../node/messages/search-terms.ts';
import { allQueryTerms, documentTokens, queryTerms } from '../../node/messages/search-tokens.ts';

/** 1,000 newest messages: "meeting" in every other one, a room in each, "prüfung" in a few. */
const newest = Array.from({ length: 1000 }, (_, i) => {
  const words = ['see', 'the', i % 2 ? 'meeting' : 'notes', `room${i % 7}`, i % 100 === 0 ? 'Prüfung' : 'today'];
  return words.join(' ');
});
const choose = (query: string) => chooseFrom(sampleOf(newest), query, allQueryTerms(query));
const tokens = (text: string) => documentTokens(text).split(' ');

describe('choosing the terms the index is asked for', () => {
  it('leaves out the common word of a phrase, whose list would cost more than it narrows', () => {
    const { terms } = choose('meeting prüfung');
    const asked = [...terms.exact, ...terms.prefix];
    expect(asked.filter((t) => tokens('meeting').includes(t))).toEqual([]);
    expect(asked.length).toBeLessThan(queryTerms('meeting prüfung').exact.length);
  });

  it('adds a second term where the rarest leaves many candidates that the second rules out', () => {
    const { terms } = choose('meeting room3');
    const asked = [...terms.exact, ...terms.prefix];
    expect(asked.some((t) => tokens('room3').includes(t))).toBe(true);
    expect(asked.length).toBeGreaterThan(1);
  });

  it('says how often the query itself is among the newest messages, and without a sample keeps to the shape', () => {
    expect(choose('prüfung').sampled).toEqual({ matches: 10, messages: 1000 });
    expect(choose('xylophone').sampled).toEqual({ matches: 0, messages: 1000 });
    expect(chooseFrom(undefined, 'meeting prüfung', allQueryTerms('meeting prüfung'))).toEqual({
      terms: queryTerms('meeting prüfung'),
    });
  });
});

describe('reading the sample in the background', () => {
  it('tokenizes it a slice at a time, so that the thread keeps turning, into the same sample', async () => {
    // 2,000 long messages, as the newest of a busy node may be: tens of milliseconds of tokenizing at least.
    const texts = Array.from({ length: 2000 }, (_, i) =>
      Array.from({ length: 60 }, (_, w) => `word${(i * 31 + w * 7) % 5000} 会议${w % 9}`).join(' '),
    );
    // A 1-ms timer counts the turns of the event loop while the sample is read. How long any one turn
    // took is no measure here: on two cores the other test files can take the CPU for tens of ms.
    let turns = 0;
    const ticker = setInterval(() => turns++, 1);
    const sample = await sampleInSlices(texts);
    const during = turns;
    clearInterval(ticker);
    const whole = sampleOf(texts);
    expect([...sample.postings]).toEqual([...whole.postings]);
    expect(sample.sorted).toEqual(whole.sorted);
    // Ten slices, nine turns between them: the timer ran in most of them (read in one go, in none).
    expect(during).toBeGreaterThanOrEqual(5);
  });
});
