// Small byte-level tokenizer.json files and Hugging Face tokenizers' outputs
// for them, for test.c's tokenizer group:
//   npm install tokenizers
//   node tools/make_tokenizer_cases.js ../shared/tokenizers
//   node tools/make_tokenizer_cases.js SOME/tokenizer.json > cases.jsonl
// (then ./test --tokenizer-cases SOME/tokenizer.json cases.jsonl) makes the
// same cases for any tokenizer.json;
//   node tools/make_tokenizer_cases.js SOME/tokenizer.json --random N SEED
// makes N random texts instead, each joined from 1-30 pieces of the list
// below (scripts, digits, spaces, marks, emoji, the file's added tokens).
// For each variant below it writes tools/tokenizers/NAME.json (the first
// merges of Llama 3's vocabulary with the variant's normalizer,
// pre-tokenizer, post-processor, decoder and added tokens) and NAME.jsonl;
// for the real llama3 and qwen3 files it writes NAME-decode.jsonl. Lines:
//   {"text", "ids", "plain", "decoded"}  ids = encode(text) with special
//       tokens, plain = without, decoded = decode(plain) keeping specials;
//   {"ids", "decoded", "skip_special"}    decode-only: arbitrary ids, some
//       of them not UTF-8 together, decoded as tokenizers does.
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const shared = process.argv[2] || '../shared/tokenizers';
const outDir = path.join(__dirname, 'tokenizers');
fs.mkdirSync(outDir, { recursive: true });

// GPT-2's bytes_to_unicode, to name the byte tokens
const byteChar = [];
for (let b = 0, extra = 0; b < 256; b++) {
  const self = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
  byteChar.push(String.fromCodePoint(self ? b : 0x100 + extra++));
}

// The base model: the 256 byte characters, then the results of Llama 3's first merges
const single = shared.endsWith('.json');
const random = process.argv[3] === '--random' ? { n: +process.argv[4] || 1000, seed: +process.argv[5] || 1 } : null;
const llama3 = single ? { model: { merges: [] } } : JSON.parse(fs.readFileSync(path.join(shared, 'llama3/tokenizer.json'), 'utf8'));
// (those whose parts are already there, until there are NMERGES)
const NMERGES = 600;
const vocab = {}, merges = [];
for (const c of byteChar) vocab[c] = Object.keys(vocab).length;
for (const m of llama3.model.merges) {
  const [a, b] = typeof m === 'string' ? m.split(' ') : m;
  if (merges.length === NMERGES) break;
  if (!(a in vocab) || !(b in vocab)) continue;
  merges.push([a, b]);
  if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
}
// and merges of pairs of the characters the Split variants cut at, so that
// where a piece ends shows in the ids
const cut = ',-.!?x0123456789a \n';
for (const a of cut) for (const b of cut) {
  const [ca, cb] = [a, b].map((c) => byteChar[c.charCodeAt(0)]);
  if (!(ca + cb in vocab)) {
    merges.push([ca, cb]);
    vocab[ca + cb] = Object.keys(vocab).length;
  }
}
// and whole words no merge makes, which only ignore_merges finds
for (const w of ['Ġbrown', 'Ġlazy', 'Ġjumps', 'Ġquick', 'Ġdog', 'Hello', 'Ġworld', 'Ġtrailing'])
  if (!(w in vocab)) vocab[w] = Object.keys(vocab).length;
const nv = Object.keys(vocab).length;

function added(content, o = {}) {
  return Object.assign({ content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }, o);
}
const byteLevel = (prefix, regex) => ({ type: 'ByteLevel', add_prefix_space: prefix, trim_offsets: true, use_regex: regex });
const split = (pattern, behavior, invert = false) => ({ type: 'Split', pattern, behavior, invert });
const template = (pre, post) => ({
  type: 'TemplateProcessing',
  single: [...pre.map((id) => ({ SpecialToken: { id, type_id: 0 } })), { Sequence: { id: 'A', type_id: 0 } },
    ...post.map((id) => ({ SpecialToken: { id, type_id: 0 } }))],
  pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
  special_tokens: Object.fromEntries([...pre, ...post].map((id, i) => [id, { id, ids: [tokenIds[id]], tokens: [id] }])),
});
const tokenIds = {};

const variants = {
  // GPT-2: ByteLevel with its own regex, no prefix space
  gpt2: {
    added: [added('<|endoftext|>')],
    normalizer: null,
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    merges_form: 'string',
  },
  // SmolLM2: digits one by one, then ByteLevel with its regex
  smollm2: {
    added: [added('<|endoftext|>'), added('<|im_start|>'), added('<|im_end|>'), added('<repo_name>')],
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(false, true)] },
    post_processor: byteLevel(true, true),
    merges_form: 'string',
  },
  // A prefix space, Digits grouped, NFC in a Sequence of normalizers, a
  // template with a token before and after, ignore_merges, and added
  // tokens with lstrip/rstrip, normalized and not special
  prefix: {
    added: [added('<s>'), added('</s>'), added('<mask>', { lstrip: true }), added('<sep>', { rstrip: true }),
      added(' hello', { normalized: true, special: false }), added('[x]', { special: false }),
      added('e\u0301!', { normalized: true, special: false }), added('qz', { single_word: true, special: false }),
      added('<w>', { single_word: true, lstrip: true, normalized: true, special: false })],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { String: '\t' }, content: '  ' }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: false }, byteLevel(true, true)] },
    post_processor: () => ({ type: 'Sequence', processors: [byteLevel(true, false), template(['<s>'], ['</s>'])] }),
    ignore_merges: true,
  },
  // Every Split behavior, on String and Regex patterns, with and without invert
  splits: {
    added: [added('<|eot|>')],
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      split({ String: '--' }, 'Removed'),
      split({ Regex: '[0-9]' }, 'MergedWithNext'),
      split({ String: '!' }, 'Contiguous'),
      split({ String: ',' }, 'MergedWithPrevious'),
      split({ Regex: '\\s+' }, 'Contiguous', true),
      split({ String: 'ab' }, 'Isolated', true),
      split({ Regex: '[.!?]' }, 'MergedWithPrevious', true),
      byteLevel(false, false)] },
    post_processor: () => template(['<|eot|>', '<|eot|>'], []),
  },
  splits2: {
    added: [],
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      split({ Regex: '\\p{L}+' }, 'Removed', true),
      split({ String: 'x' }, 'MergedWithNext', true),
      split({ String: '?' }, 'MergedWithNext'),
      split({ Regex: '[.,]' }, 'MergedWithPrevious'),
      split({ Regex: 'a|' }, 'Contiguous'),
      split({ String: 'é' }, 'Removed'),
      byteLevel(false, false)] },
    post_processor: null,
  },
};

const texts = [
  '', ' ', '  ', '\n', '\t', 'Hello world', ' Hello world', 'Hello  world', '  leading and trailing  ',
  "I'M HERE, YOU'RE THERE, it's don't we'll", 'a-b--c---d----e', 'x--', '--x', 'ab,cd,,ef, gh ,',
  '3.14159 and 1,000,000 and 12345678901', 'a1b22c333d4444', '٣٤٥ ²³ ½ Ⅻ', 'abab xabx ab ba aab',
  'Ends! Really? Yes. No...', 'Wait!!! What?? Why??? a?!?b ..,,.. 1..2,,3', 'xx x xax axa', 'a1234b 99 x-1-2--3', 'café e\u0301te\u0301 n\u0303o Straße', 'naïve résumé',
  '中文文本测试，你好！', 'emoji 😀😃 👍🏽 👨‍👩‍👧', 'line1\r\nline2\r\n\r\nline3\n\n\nend', 'tabs\there\t\tand\t \tmix',
  'nbsp\u00a0here ideo\u3000space', 'for (int i = 0; i < n; i++) {\n    x[i] += 1;\n}', 'def f(x):\n    return x ** 2\n',
  'https://example.com/path?q=1&r=2#frag', '<|endoftext|>', 'a<|endoftext|>b', '<|im_start|>user\nhi<|im_end|>\n',
  '<repo_name>x', 'a <mask> b', 'a<mask>b', '  <mask>  ', 'x <sep>  y', '<sep>', 'say hello hello', 'say  hello',
  'hello', '[x] [x][x]', 'e\u0301', 'é', 'é! e\u0301! e\u0301\u0301!', '<s>Hello</s>', '<|eot|><|eot|>', 'abc<|eot|>def', '\u0085\u2028\u2029',
  '\u00ad\u200b\ufeff', 'ÀÁÂ ÿ Ā ā', 'ǅ ʰ ß ẞ', 'a\u0000b', "'s's's '''", 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  '                                  x', '0000000000', 'The quick brown fox jumps over the lazy dog.',
  'qz aqz qzb qz. (qz) qz_ _qz 1qz qz1 ²qz qz½ éqz qzé \u200dqz qz\u200c Ⅻqz qz\u0301 ⓐqz qz😀 qzqz qz', 'qz',
  'a<w> <w>b  <w> (<w>) <w><w> x<w>', '<w>',
  
];

// decode-only id sequences: lone lead bytes, cut characters, stray continuation bytes, specials in between
function decodeCases(vocabOf, specials) {
  const id = (s) => vocabOf[s];
  const b = (x) => id(byteChar[x]);
  const seqs = [
    [b(0xc3)], [b(0xc3), id('a')], [b(0xe2), b(0x82)], [b(0xe2), b(0x82), b(0xac)], [b(0x80)], [b(0x80), b(0x80), id('a')],
    [b(0xf0), b(0x9f), b(0x98)], [b(0xf0), b(0x9f), b(0x98), b(0x80)], [b(0xf0), b(0x80), b(0x80)], [b(0xed), b(0xa0), b(0x80)],
    [b(0xc0), b(0xaf)], [b(0xf4), b(0x90), b(0x80), b(0x80)], [b(0xff), id('a'), b(0xfe)], [b(0xe4), id('a'), b(0xb8), b(0xad)],
    [b(0xe4), b(0xb8)], [id('a'), b(0xe4), b(0xb8)], [b(0xc3), b(0xc3), b(0xa9)], [b(0xe2), b(0xe2), b(0x82), b(0xac)],
  ];
  for (const s of specials) seqs.push([b(0xe4), s, b(0xb8), b(0xad)], [s, b(0xc3)], [b(0xc3), s]);
  const out = [];
  for (const ids of seqs) for (const skip of specials.length ? [false, true] : [false]) out.push({ ids, skip });
  return out;
}

// the pieces random texts are made of
const pieces = ['the', ' the', 'THE', "'s", "'re", "'ll", "'M", "n't", ' ', '  ', '   ', '\n', '\n\n', '\t', '\r\n', ' \n ',
  '0', '12', '123', '1234', '12345', '3.14', '1,000', '٣٤', '²', '½', 'Ⅻ', '①', 'a', 'bc', 'Hello', 'café', 'e\u0301',
  'n\u0303', 'Straße', 'ÀÉÎ', 'ǅ', 'ʰ', '中文', '测试', '，', '。', '日本語', 'カタカナ', '한국어', 'Русский', 'Ελληνικά',
  'עברית', 'العربية', 'हिन्दी', 'ไทย', '😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '—', '…', '«', '"', "'", '`', '(', ')', '[', '{', '<', '>',
  '/', '\\', '|', '_', '-', '--', '+', '==', '!', '?', '.', ',', ';', ':', '#', '@', '$', '%', '&', '*', '~', '\u00a0',
  '\u3000', '\u200b', '\u200d', '\ufeff', '\u00ad', '\u2028', '\u0085', 'def', 'x[i]', '++', '->', '0x1F', 'https://',
  '.com', 'ÿ', 'Ā', 'ő', 'ſ', 'ﬁ', 'ⓐ', '𝔘', '𝟘', '\u0301', '\u0308', 'A\u030a', 'Å', 'Å'];
function randomTexts(n, seed, specials) {
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const out = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    for (let j = 1 + Math.floor(rnd() * 30); j > 0; j--) s += specials.length && rnd() < 0.03 ? pick(specials) : pick(pieces);
    out.push(s);
  }
  return out;
}

async function cases(t, withText, specials, list = texts) {
  const lines = [];
  if (withText)
    for (const text of list) {
      const ids = (await t.encode(text, null, { addSpecialTokens: true })).getIds();
      const plain = (await t.encode(text, null, { addSpecialTokens: false })).getIds();
      lines.push(JSON.stringify({ text, ids, plain, decoded: await t.decode(plain, false) }));
    }
  for (const { ids, skip } of specials ? decodeCases(t.getVocab(true), specials) : [])
    lines.push(JSON.stringify({ ids, decoded: await t.decode(ids, skip), skip_special: skip }));
  return lines.join('\n') + '\n';
}

(async () => {
  if (single) { /* one tokenizer.json: cases to stdout */
    const t = Tokenizer.fromFile(shared);
    const specials = Object.values(JSON.parse(fs.readFileSync(shared, 'utf8')).added_tokens || [])
      .filter((a) => a.special).slice(0, 2).map((a) => a.id);
    const v = t.getVocab(true);
    if (random) {
      const added = (JSON.parse(fs.readFileSync(shared, 'utf8')).added_tokens || []).slice(0, 6).map((a) => a.content);
      process.stdout.write(await cases(t, true, null, randomTexts(random.n, random.seed, added)));
      return;
    }
    process.stdout.write(await cases(t, true, byteChar.every((c) => c in v) ? specials : null));
    return;
  }
  for (const [name, v] of Object.entries(variants)) {
    let next = nv; /* a token already in the vocabulary keeps its id there, as tokenizers gives it */
    const added_tokens = v.added.map((a) => Object.assign({ id: a.content in vocab ? vocab[a.content] : next++ }, a));
    for (const a of added_tokens) tokenIds[a.content] = a.id;
    const json = {
      version: '1.0', truncation: null, padding: null, added_tokens,
      normalizer: v.normalizer, pre_tokenizer: v.pre_tokenizer,
      post_processor: typeof v.post_processor === 'function' ? v.post_processor() : v.post_processor,
      decoder: byteLevel(true, true),
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: false, byte_fallback: false, ignore_merges: !!v.ignore_merges, vocab,
        merges: v.merges_form === 'string' ? merges.map((m) => m.join(' ')) : merges },
    };
    const text = JSON.stringify(json);
    const t = Tokenizer.fromString(text);
    fs.writeFileSync(path.join(outDir, name + '.json'), text);
    fs.writeFileSync(path.join(outDir, name + '.jsonl'), await cases(t, true, added_tokens.filter((a) => a.special).map((a) => a.id)));
  }
  for (const name of ['llama3', 'qwen3']) {
    const t = Tokenizer.fromFile(path.join(shared, name, 'tokenizer.json'));
    const specials = name === 'llama3' ? [128000, 128009] : [151643, 151645];
    fs.writeFileSync(path.join(outDir, name + '-decode.jsonl'), await cases(t, false, specials));
  }
})();
