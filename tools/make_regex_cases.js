// Reference splits for test.c's regex group, from Hugging Face tokenizers:
//   npm install tokenizers && node tools/make_regex_cases.js > tools/regex_cases.jsonl
// Each line: {"pattern": P, "text": T, "pieces": [...]} where pieces is what a
// Split(Regex(P), behavior "Isolated") pre-tokenizer makes of T: the matches
// and the non-empty text between them, in order.
const { Tokenizer } = require('tokenizers');

const patterns = [
  // Llama 3
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  // Qwen2.5 / Qwen3
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  // GPT-2 ByteLevel
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  // other constructs: lazy, possessive, bounded repeats, lookahead, anchors, classes
  "a+?b|\\d{2,4}?|x*+y|(?=\\p{Lu})\\w+|[^\\P{L}a-f]+|\\W|^#|\\.$|\\x{4E2D}\\u6587|(?i:ab|c)|\\S",
  "(?:a*)*b|(?>x+)x|(?>y+|z)w|\\p{N}{2,}?k|[\\-\\]\\\\]+|a{,2}z|(?!\\d)\\w{2}|(?:)+c|\\A\\p{Lu}|q\\z|(?i:k\\x{E9})|[^\\x00-\\x{7F}]+",
];

const texts = [
  "Hello world", "I'M HERE, YOU'RE THERE, WE'VE GONE, SHE'LL SEE, HE'D SAY, IT'S MINE, DON'T",
  "it's don't we're they've I'm you'll he'd", "'S 'T 'RE 'Ve 'mM 'Ll 'D ''s 'x",
  "1 12 123 1234 12345 123456 1234567", "a1b22c333d4444e55555", "٣٤٥٦ ²³ ½ Ⅻ 𝟙𝟚𝟛",
  "中文字符测试，你好世界！", "日本語のテキスト。カタカナ", "한국어 텍스트입니다",
  "e\u0301te\u0301 cafe\u0301 n\u0303 \u0301abc", "emoji 😀😃 👍🏽 👨‍👩‍👧 🇫🇷!",
  "line1\r\nline2\r\n\r\nline3\n\n\nend", "\r\n\r\n  \r\n\t\r", "trailing spaces   ", "   leading",
  "tabs\there\t\tand\t \tmix", "nbsp\u00a0here\u00a0\u00a0x", "ideo\u3000space\u2003em\u2009thin\u202fnarrow",
  "\u0085next\u2028line\u2029para", "a  b   c    d", "  \n  \n", " ?!... ---> <<>> $$$ @#",
  "x = f(y) + g[z]; // comment", "https://example.com/path?q=1&r=2#frag", "'''", "'s's's",
  "\u00ad\u200b\u200d\ufeffzero", "Ωμέγα ΣΊΣΥΦΟΣ Привет мир", "ﬁne ﬂow Straße STRASSE", "",
  " ", "\n", "x", "aaab abab xxxy y xy", "#tag\n#x", "end.", "end.\nmore.", "中文 漢字",
  "AbcDef GHI jkl", "a+b=c", "tab\tend\t", "\t", "mixed 12ab34 ab12cd", "…“quotes”‘’",
  "aab c", "xxx xxxw yyyw zw", "12k 123456k 1k", "-]\\ \\]", "az aaz aaaz", "Qq q", "abc_1 2x",
  "K\u00c9 \u212a\u00e9 k\u00c9", "Kéq",
];

// random texts over characters that exercise every branch
function rng(seed) { return () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; }; }
const alphabet = ["a", "Z", "é", "e\u0301", "中", "😀", "1", "٣", "²", " ", "  ", "\t", "\n", "\r", "\r\n", "\u00a0",
  "\u3000", "'", "'s", "'LL", "-", "!", ".", "$", "_", "\u200d", "\u0301", "ß", "ǅ", "ʰ"];
const r = rng(42);
for (let i = 0; i < 120; i++) {
  let s = "", k = 1 + Math.floor(r() * 24);
  while (k--) s += alphabet[Math.floor(r() * alphabet.length)];
  texts.push(s);
}

function splitter(pattern) {
  const json = { version: "1.0", truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: { type: "Split", pattern: { Regex: pattern }, behavior: "Isolated", invert: false },
    post_processor: null, decoder: null, model: { type: "WordLevel", vocab: { "a": 0 }, unk_token: "a" } };
  return Tokenizer.fromString(JSON.stringify(json)).getPreTokenizer();
}

for (const pattern of patterns) {
  const pre = splitter(pattern);
  for (const text of texts) {
    const pieces = pre.preTokenizeString(text).map((p) => p[0]);
    if (pieces.join("") !== text) throw new Error("pieces do not cover " + JSON.stringify(text));
    console.log(JSON.stringify({ pattern, text, pieces }));
  }
}
