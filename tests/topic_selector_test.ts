import assert from "node:assert/strict";
import {
  compileSelector,
  InvalidSelectorError,
  matchesSelector,
  SelectorSet,
} from "../lib/topics/topic_selector.ts";

/** Asserts, for each [template, topic] pair, that the template matches (or not) the topic. */
function assertMatches(pairs: [string, string][], expected: boolean): void {
  for (const [template, topic] of pairs) {
    assert.equal(
      compileSelector(template).matches(topic),
      expected,
      `${template} should ${expected ? "" : "not "}match ${JSON.stringify(topic)}`,
    );
  }
}

// RFC 6570 section 1.2 (levels 1 to 4) and section 3.2, with its variables: var="value",
// hello="Hello World!", half="50%", path="/foo/bar", base="http://example.com/home/", x="1024",
// y="768", v="6", who="fred", dub="me/too", empty="", undef and bar undefined,
// list=("red","green","blue"), count=("one","two","three"), dom=("example","com"),
// keys=[("semi",";"),("dot","."),("comma",",")].
const RFC_EXAMPLES: [string, string][] = [
  ["{var}", "value"],
  ["{hello}", "Hello%20World%21"],
  ["{half}", "50%25"],
  ["O{empty}X", "OX"],
  ["O{undef}X", "OX"],
  ["{+var}", "value"],
  ["{+hello}", "Hello%20World!"],
  ["{+path}/here", "/foo/bar/here"],
  ["here?ref={+path}", "here?ref=/foo/bar"],
  ["{base}index", "http%3A%2F%2Fexample.com%2Fhome%2Findex"],
  ["{+base}index", "http://example.com/home/index"],
  ["up{+path}{var}/here", "up/foo/barvalue/here"],
  ["X{#var}", "X#value"],
  ["X{#hello}", "X#Hello%20World!"],
  ["foo{#empty}", "foo#"],
  ["foo{#undef}", "foo"],
  ["map?{x,y}", "map?1024,768"],
  ["?{x,empty}", "?1024,"],
  ["?{undef,y}", "?768"],
  ["{x,hello,y}", "1024,Hello%20World%21,768"],
  ["{+x,hello,y}", "1024,Hello%20World!,768"],
  ["{+path,x}/here", "/foo/bar,1024/here"],
  ["{#x,hello,y}", "#1024,Hello%20World!,768"],
  ["{#path,x}/here", "#/foo/bar,1024/here"],
  ["X{.var}", "X.value"],
  ["X{.x,y}", "X.1024.768"],
  ["X{.empty}", "X."],
  ["{.who,who}", ".fred.fred"],
  ["www{.dom*}", "www.example.com"],
  ["{/var}", "/value"],
  ["{/var,x}/here", "/value/1024/here"],
  ["{/var,empty}", "/value/"],
  ["{/who,dub}", "/fred/me%2Ftoo"],
  ["{;x,y}", ";x=1024;y=768"],
  ["{;x,y,empty}", ";x=1024;y=768;empty"],
  ["{;v,empty,who}", ";v=6;empty;who=fred"],
  ["{;v,bar,who}", ";v=6;who=fred"],
  ["{?x,y}", "?x=1024&y=768"],
  ["{?x,y,empty}", "?x=1024&y=768&empty="],
  ["{?x,y,undef}", "?x=1024&y=768"],
  ["?fixed=yes{&x}", "?fixed=yes&x=1024"],
  ["{&x,y,empty}", "&x=1024&y=768&empty="],
  ["{var:3}", "val"],
  ["{var:16}", "value"], // the RFC's {var:30}, within the cap on prefix lengths
  ["{list}", "red,green,blue"],
  ["{list*}", "red,green,blue"],
  ["{count}", "one,two,three"],
  ["{keys}", "semi,%3B,dot,.,comma,%2C"],
  ["{keys*}", "semi=%3B,dot=.,comma=%2C"],
  ["{+path:6}/here", "/foo/b/here"],
  ["{+list}", "red,green,blue"],
  ["{+list*}", "red,green,blue"],
  ["{+keys}", "semi,;,dot,.,comma,,"],
  ["{+keys*}", "semi=;,dot=.,comma=,"],
  ["{#path:6}/here", "#/foo/b/here"],
  ["{#list}", "#red,green,blue"],
  ["{#list*}", "#red,green,blue"],
  ["{#keys}", "#semi,;,dot,.,comma,,"],
  ["{#keys*}", "#semi=;,dot=.,comma=,"],
  ["X{.var:3}", "X.val"],
  ["X{.list}", "X.red,green,blue"],
  ["X{.list*}", "X.red.green.blue"],
  ["X{.keys}", "X.semi,%3B,dot,.,comma,%2C"],
  ["X{.keys*}", "X.semi=%3B.dot=..comma=%2C"],
  ["{/var:1,var}", "/v/value"],
  ["{/list}", "/red,green,blue"],
  ["{/list*}", "/red/green/blue"],
  ["{/count*}", "/one/two/three"],
  ["{/list*,path:4}", "/red/green/blue/%2Ffoo"],
  ["{/keys}", "/semi,%3B,dot,.,comma,%2C"],
  ["{/keys*}", "/semi=%3B/dot=./comma=%2C"],
  ["{;hello:5}", ";hello=Hello"],
  ["{;list}", ";list=red,green,blue"],
  ["{;list*}", ";list=red;list=green;list=blue"],
  ["{;keys}", ";keys=semi,%3B,dot,.,comma,%2C"],
  ["{;keys*}", ";semi=%3B;dot=.;comma=%2C"],
  ["{?var:3}", "?var=val"],
  ["{?list}", "?list=red,green,blue"],
  ["{?list*}", "?list=red&list=green&list=blue"],
  ["{?keys}", "?keys=semi,%3B,dot,.,comma,%2C"],
  ["{?keys*}", "?semi=%3B&dot=.&comma=%2C"],
  ["{&var:3}", "&var=val"],
  ["{&list}", "&list=red,green,blue"],
  ["{&list*}", "&list=red&list=green&list=blue"],
  ["{&keys}", "&keys=semi,%3B,dot,.,comma,%2C"],
  ["{&keys*}", "&semi=%3B&dot=.&comma=%2C"],
];

Deno.test("every RFC 6570 example expansion matches its own template", () => {
  assertMatches(RFC_EXAMPLES, true);
});

Deno.test("a simple expression matches one path segment and nothing else", () => {
  const books = "https://example.com/books/{id}";
  assertMatches(
    [[books, "https://example.com/books/1"], [books, "https://example.com/books/"]],
    true,
  );
  assertMatches([
    [books, "https://example.com/books/1/reviews"],
    [books, "https://example.com/authors/1"],
    [books, "https://example.com/books"],
    [books, "http://example.com/books/1"],
    [books, "https://example.com/books/1?x=2"],
  ], false);
});

Deno.test("literal parts are literal even when they hold regular-expression metacharacters", () => {
  assertMatches([["https://ex.com/a.b/{x}", "https://ex.com/a.b/1"]], true);
  assertMatches([["https://ex.com/a.b/{x}", "https://ex.com/aXb/1"]], false);
  const tricky = "https://ex.com/(a)+[b]^$|c\\d*?/{x}";
  assertMatches([[tricky, "https://ex.com/(a)+[b]^$|c\\d*?/1"]], true);
  assertMatches([
    [tricky, "https://ex.com/aa[b]^$|c\\d*?/1"],
    [tricky, "https://ex.com/(a)+b^$|c\\d*?/1"],
    [tricky, "https://ex.com/(a)+[b]^$|c\\ddd/1"],
  ], false);
});

Deno.test("simple and label values refuse characters that expansion would have encoded", () => {
  assertMatches([
    ["{var}", "a/b"],
    ["{var}", "a?b"],
    ["{var}", "a b"],
    ["{var}", "Hello World!"],
    ["{var}", "50%"],
    ["{var}", "%zz"],
    ["{var}", "%2"],
    ["X{.var}", "X.a/b"],
    ["{/var}", "/a/b"],
  ], false);
  assertMatches([["{+var}", "a/b?c#d"], ["{var}", "a%2Fb"], ["{var}", "%e2%82%ac"]], true);
});

Deno.test("a prefix modifier limits the value length, a percent-encoded character counting as one", () => {
  assertMatches([
    ["{var:3}", "val"],
    ["{var:3}", ""],
    ["{var:3}", "%C3%A9t%C3%A9"],
    ["{var:1}", "%F0%9F%98%80"],
    ["{;hello:5}", ";hello"],
    ["{+path:6}/here", "/foo/here"],
  ], true);
  assertMatches([
    ["{var:3}", "valu"],
    ["{var:3}", "%C3%A9t%C3%A9s"],
    ["{var:1}", "%C3"],
    ["{?var:3}", "?var=value"],
    ["{;hello:5}", ";hello=Hello%20"],
    ["{+path:6}/here", "/foo/ba/here"],
  ], false);
});

Deno.test("named expressions keep their variables in order, with their own separators", () => {
  assertMatches([["{?x,y}", "?x=1"], ["{?x,y}", "?y=2"], ["{;x}", ";x"], ["{&x}", "&x="]], true);
  assertMatches([
    ["{?x,y}", "?y=768&x=1024"],
    ["{?x,y}", "?x=1024?y=768"],
    ["{?x,y}", "?x=1024&&y=768"],
    ["{?x,y}", "?x=1&x=2"],
    ["{?x,y}", "?z=1"],
    ["{?x}", "?x"],
    ["{;x}", ";x="],
    ["{&x,y}", "?x=1"],
    ["{x:2,y:2}", "abc"],
    ["{x:2,y:2}", "ab,cd,ef"],
  ], false);
});

Deno.test("an expression whose variables are all undefined expands to nothing, so it may be absent", () => {
  const search = "https://ex.com/search{?q,page}";
  assertMatches([
    [search, "https://ex.com/search"],
    [search, "https://ex.com/search?q=deno&page=2"],
    ["a{/b}c", "ac"],
    ["a{/b,c}d", "ad"],
  ], true);
  assertMatches([[search, "https://ex.com/search?"], [search, "https://ex.com/search&q=1"]], false);
});

Deno.test("explode allows the repeated separators that a single value cannot hold", () => {
  assertMatches(
    [["{/list*}", "/a/b/c"], ["{?list*}", "?list=a&list=b"], ["{.dom*}", ".a.b"]],
    true,
  );
  assertMatches([["{/list}", "/a/b"], ["{?list}", "?list=a&list=b"]], false);
});

Deno.test("raw non-ASCII characters count as value characters of an IRI topic", () => {
  assertMatches([
    ["https://example.com/books/{id}", "https://example.com/books/café"],
    ["{var:1}", "é"],
    ["{var:1}", "😀"],
  ], true);
  assertMatches([["{var:1}", "éé"], ["{var}", "\u0085"]], false);
});

Deno.test("star matches every topic, the empty one included", () => {
  const any = compileSelector("*");
  assert.equal(any.kind, "any");
  assert.equal(any.source, "*");
  for (const topic of ["", "*", "https://example.com/x", "{id}"]) {
    assert.equal(any.matches(topic), true);
  }
});

Deno.test("an exact selector matches only the identical topic", () => {
  const exact = compileSelector("https://example.com/Books/1");
  assert.equal(exact.kind, "exact");
  assert.equal(exact.matches("https://example.com/Books/1"), true);
  for (
    const topic of [
      "https://example.com/books/1",
      "https://example.com/Books/10",
      "https://example.com/Books/",
      "https://example.com/Books/1/",
      "xhttps://example.com/Books/1",
    ]
  ) {
    assert.equal(exact.matches(topic), false, topic);
  }
  const starred = compileSelector("https://ex.com/*.b}");
  assert.equal(starred.kind, "exact");
  assert.equal(starred.matches("https://ex.com/x.b}"), false);
  assert.equal(starred.matches("https://ex.com/*.b}"), true);
});

Deno.test("a template also matches the topic spelled exactly like itself", () => {
  const template = compileSelector("https://example.com/books/{id}");
  assert.equal(template.kind, "template");
  assert.equal(template.matches("https://example.com/books/{id}"), true);
  assert.equal(template.matches("https://example.com/books/{idx}"), false);
});

Deno.test("each kind of malformed selector throws InvalidSelectorError naming the fault", () => {
  const cases: [string, string][] = [
    ["", "empty selector"],
    ["https://ex.com/{id", "unclosed '{' at 15"],
    ["a{b{c}}", "unclosed '{' at 1"],
    ["a}b{c}", "unmatched '}' at 1"],
    ["{a}}", "unmatched '}' at 3"],
    ["x{}", "empty expression at 1"],
    ["{+}", "missing variable name after operator '+' at 0"],
    ["{=a}", "reserved operator '=' at 1"],
    ["{,a}", "reserved operator ',' at 1"],
    ["{!a}", "reserved operator '!' at 1"],
    ["{@a}", "reserved operator '@' at 1"],
    ["{|a}", "reserved operator '|' at 1"],
    ["{$a}", "invalid variable name '$a' at 1"],
    ["{a-b}", "invalid variable name 'a-b' at 1"],
    ["{ a}", "invalid variable name ' a' at 1"],
    ["{a.}", "invalid variable name 'a.' at 1"],
    ["{.a..b}", "invalid variable name 'a..b' at 2"],
    ["{a%2}", "invalid variable name 'a%2' at 1"],
    ["{a,}", "empty variable name at 3"],
    ["{a,,b}", "empty variable name at 3"],
    ["{var:0}", "invalid prefix length ':0' at 1: must be 1 to 9999"],
    ["{var:10000}", "invalid prefix length ':10000' at 1: must be 1 to 9999"],
    ["{x,var:}", "invalid prefix length ':' at 3: must be 1 to 9999"],
    ["{var:03}", "invalid prefix length ':03' at 1: must be 1 to 9999"],
    ["{var:x}", "invalid prefix length ':x' at 1: must be 1 to 9999"],
    ["{var*:3}", "prefix and explode modifiers together at 1"],
    ["{var:3*}", "prefix and explode modifiers together at 1"],
    ["{var**}", "invalid variable name 'var**' at 1"],
    [`{${Array.from({ length: 9 }, (_, i) => `v${i}`)}}`, "too many variables: 9 (at most 8)"],
    ["{a}{b}{c}{d}{e}{f}{g}{h}{i}", "too many variables: 9 (at most 8)"],
    ["{var:30}", "prefix lengths add up to 30 (at most 16)"],
    ["{a:9}/{b:8}", "prefix lengths add up to 17 (at most 16)"],
    [`/${"a".repeat(251)}/{id}`, "URI template of 257 bytes (UTF-8): at most 256"],
    [`/${"€".repeat(84)}/{id}`, "URI template of 258 bytes (UTF-8): at most 256"],
    [`/${"€".repeat(341)}/x`, "selector of 1026 bytes (UTF-8): at most 1024"],
  ];
  for (const [selector, message] of cases) {
    assert.throws(
      () => compileSelector(selector),
      (error) => {
        assert.ok(error instanceof InvalidSelectorError, selector);
        assert.equal(error.message, message);
        assert.equal(error.selector, selector);
        assert.equal(error.name, "InvalidSelectorError");
        return true;
      },
    );
  }
  assert.equal(compileSelector("{%41b.c_1,d:16,e*}").kind, "template");
});

Deno.test("matchesSelector answers false for an invalid selector instead of throwing", () => {
  assert.equal(matchesSelector("https://ex.com/{id", "https://ex.com/{id"), false);
  assert.equal(matchesSelector("", ""), false);
  assert.equal(matchesSelector("https://ex.com/{id}", "https://ex.com/7"), true);
});

Deno.test("matchesSelector keeps its answers once its cache has evicted entries", () => {
  for (let i = 0; i < 1_200; i++) {
    assert.equal(matchesSelector(`https://ex.com/${i}/{id}`, `https://ex.com/${i}/x`), true);
    assert.equal(matchesSelector(`https://ex.com/${i}/{id}`, `https://ex.com/${i + 1}/x`), false);
    assert.equal(matchesSelector(`bad{${i}`, `bad{${i}`), false);
  }
  assert.equal(matchesSelector("https://ex.com/0/{id}", "https://ex.com/0/x"), true);
  assert.equal(matchesSelector("bad{0", "bad{0"), false);
});

Deno.test("SelectorSet keeps exact topics apart from templates and star", () => {
  const set = new SelectorSet([
    "https://ex.com/a",
    "https://ex.com/b/{id}",
    "https://ex.com/a",
    "https://ex.com/b/{id}",
    "https://ex.com/c",
  ]);
  assert.deepEqual([...set.exactTopics], ["https://ex.com/a", "https://ex.com/c"]);
  assert.deepEqual(set.patterns.map((p) => [p.source, p.kind]), [
    ["https://ex.com/b/{id}", "template"],
  ]);
  assert.equal(set.matchesEverything, false);
  const everything = new SelectorSet(["https://ex.com/a", "*"]);
  assert.equal(everything.matchesEverything, true);
  assert.deepEqual(everything.patterns.map((p) => p.kind), ["any"]);
  assert.deepEqual(new SelectorSet([]).patterns, []);
});

Deno.test("SelectorSet matches a topic through its exact topics or its patterns", () => {
  const set = new SelectorSet(["https://ex.com/a", "https://ex.com/b/{id}"]);
  assert.equal(set.matches("https://ex.com/a"), true);
  assert.equal(set.matches("https://ex.com/b/2"), true);
  assert.equal(set.matches("https://ex.com/b/2/3"), false);
  assert.equal(set.matches("https://ex.com/A"), false);
  assert.equal(new SelectorSet([]).matches("https://ex.com/a"), false);
  assert.equal(new SelectorSet(["*"]).matches("anything"), true);
});

Deno.test("SelectorSet throws InvalidSelectorError for its first bad selector", () => {
  assert.throws(
    () => new SelectorSet(["https://ex.com/a", "{bad", "{}"]),
    (error) => {
      assert.ok(error instanceof InvalidSelectorError);
      assert.equal(error.selector, "{bad");
      assert.equal(error.message, "unclosed '{' at 0");
      return true;
    },
  );
});

Deno.test("long adversarial topics against many-variable templates still get the right answer", () => {
  const dashes = "-".repeat(20_000);
  const cases: [string, string, boolean][] = [
    ["{a}-{b}-{c}-{d}-{e}-{f}-{g}-{h}", dashes + "!", false],
    ["{a}-{b}-{c}-{d}-{e}-{f}-{g}-{h}", dashes, true],
    ["{.a,b,c,d,e,f}", ".".repeat(20_000) + "!", false],
    ["{a:8}{b:4}{c:4}", "a".repeat(16) + "!", false],
    ["{a:8}{b:4}{c:4}", "a".repeat(16), true],
    ["{a:8}{b:4}", "a".repeat(13), false],
    ["{a:8}{b:8}", "%E2%82%AC".repeat(16), true],
    ["{a:8}{b:8}", "%E2%82%AC".repeat(17), false],
    ["{+path}/here", "/".repeat(20_000) + "/her", false],
    ["https://ex.com/{a}/{b}/{c}", `https://ex.com/${"a".repeat(20_000)}!`, false],
    [`{?${Array.from({ length: 8 }, (_, i) => `v${i}`)}}`, `?v1=${"x".repeat(20_000)}&`, false],
    [`{?${Array.from({ length: 8 }, (_, i) => `v${i}`)}}`, `?v1=${"x".repeat(20_000)}`, true],
    ["{+a}{+b}{+c}{+d}{+e}{+f}{+g}{+h}!n", "/".repeat(20_000), false],
    ["{+a}{+b}{+c}{+d}{+e}{+f}{+g}{+h}!n", "/".repeat(20_000) + "!n", true],
    ["{x,y}.json", "a,".repeat(10_000) + ".jso", false],
  ];
  for (const [template, topic, expected] of cases) {
    assert.equal(compileSelector(template).matches(topic), expected, template);
  }
});

Deno.test("a template at the caps still compiles: 256 bytes, 8 variables, prefixes adding up to 16", () => {
  const template = `/${"a".repeat(250)}/{id}`;
  assert.ok(compileSelector(template).matches(`/${"a".repeat(250)}/7`));
  assert.ok(compileSelector("{a}{b}{c}{d}{e}{f}{g:8}{h:8}").matches("x"));
});

/** The worst templates within the caps: nullable overlapping variables, prefixes, explodes. */
const WORST_TEMPLATES = [
  "{+a}{+b}{+c}{+d}{+e}{+f}{+g}{+h}!n",
  "{+a}x{+b}x{+c}x{+d}x{+e}x{+f}x{+g}x{+h}!n",
  "{a:2}{b:2}{c:2}{d:2}{e:2}{f:2}{g:2}{h:2}!n",
  "{+a}{+b:8}{+c:8}{+d}!n",
  "{#a:8}{#b:8}{#c}{#d}{#e}{#f}{#g}{#h}!n",
  "{/a*}{/b*}{/c*}{/d*}{/e*}{/f*}{/g*}{/h*}!n",
  "{?a*}{&b*}{;c*}{.d*}{a,b,c,d}!n",
  "{+a,b,c,d,e,f,g,h}!n",
];
const worstTopics = (length: number) => [
  "/".repeat(length),
  "x/".repeat(length / 2),
  "a".repeat(length),
  "%E2%82%AC".repeat(length / 9),
  "#".repeat(length),
  "/a".repeat(length / 2),
  "?a=b&".repeat(length / 5),
];

function timeWorstCases(length: number, rounds: number): number {
  const started = performance.now();
  for (let round = 0; round < rounds; round++) {
    for (const template of WORST_TEMPLATES) {
      const selector = compileSelector(template);
      // A fresh topic each time, as each subscription event brings: no answer can be remembered.
      for (const topic of worstTopics(length)) assert.equal(selector.matches(topic + round), false);
    }
  }
  return performance.now() - started;
}

Deno.test("matching time grows linearly with the topic (generous bound: 16x the length costs under 48x the time)", () => {
  timeWorstCases(256, 3); // warm up the compiler
  const short = Math.max(timeWorstCases(256, 20), 1);
  const long = timeWorstCases(4096, 20);
  assert.ok(long < short * 48, `256 characters: ${short} ms, 4,096 characters: ${long} ms`);
});

Deno.test("the worst templates within the caps match 2 KB topics fast (generous bound: 56 matches in under 50 ms)", () => {
  timeWorstCases(2048, 2); // warm up the compiler
  const started = performance.now();
  timeWorstCases(2048, 1);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 50, `${WORST_TEMPLATES.length * 7} matches took ${elapsed} ms`);
});
