/**
 * Unit tests of the URI template parser (`lib/topics/uri_template.ts`): every refusal names its
 * fault and position, the caps hold at their exact edges, and the parsed pattern of each operator
 * says whether it may be absent and where a match can start. Matching itself is tested through
 * selectors in `topic_selector_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  charSet,
  MAX_TEMPLATE_PREFIX_TOTAL,
  MAX_TEMPLATE_VARIABLES,
  parseTemplate,
  union,
} from "../lib/topics/_uri_template.ts";

Deno.test("each malformed template is refused with a SyntaxError naming the fault and where", () => {
  const cases: [string, string][] = [
    ["/books/{id", "unclosed '{' at 7"],
    ["/books/{a{b}", "unclosed '{' at 7"],
    ["/books/id}", "unmatched '}' at 9"],
    ["/b/{}", "empty expression at 3"],
    ["/b/{a b}", "invalid variable name 'a b' at 4"],
    ["/b/{=x}", "reserved operator '=' at 4"],
    ["/b/{,x}", "reserved operator ',' at 4"],
    ["/b/{!x}", "reserved operator '!' at 4"],
    ["/b/{@x}", "reserved operator '@' at 4"],
    ["/b/{|x}", "reserved operator '|' at 4"],
    ["/b/{x:0}", "invalid prefix length ':0' at 4: must be 1 to 9999"],
    ["/b/{x:10000}", "invalid prefix length ':10000' at 4: must be 1 to 9999"],
    ["/b/{x:3*}", "prefix and explode modifiers together at 4"],
  ];
  for (const [template, message] of cases) {
    assert.throws(() => parseTemplate(template), new SyntaxError(message), template);
  }
});

Deno.test("the variable and prefix caps refuse one past their limit and accept the limit", () => {
  const variables = (count: number) => Array.from({ length: count }, (_, i) => `{v${i}}`).join("/");
  assert.equal(MAX_TEMPLATE_VARIABLES, 8);
  parseTemplate(variables(MAX_TEMPLATE_VARIABLES));
  assert.throws(
    () => parseTemplate(variables(MAX_TEMPLATE_VARIABLES + 1)),
    new SyntaxError("too many variables: 9 (at most 8)"),
  );
  // Variables of one expression count one by one.
  assert.throws(
    () => parseTemplate("{?a,b,c,d,e,f,g,h,i}"),
    new SyntaxError("too many variables: 9 (at most 8)"),
  );
  assert.equal(MAX_TEMPLATE_PREFIX_TOTAL, 16);
  parseTemplate("/b/{a:8}{b:8}");
  assert.throws(
    () => parseTemplate("/b/{a:9}{b:8}"),
    new SyntaxError("prefix lengths add up to 17 (at most 16)"),
  );
});

Deno.test("a literal template is a fixed pattern; an expression that may expand to nothing is nullable", () => {
  const literal = parseTemplate("/books/1");
  assert.equal(literal.fixed, true);
  assert.equal(literal.nullable, false);
  assert.equal(parseTemplate("").nullable, true);
  // Simple and reserved expansions of an undefined variable are empty; so are the operators'.
  for (const template of ["{x}", "{+x}", "{#x}", "{.x}", "{/x}", "{;x}", "{?x}", "{&x}"]) {
    const pattern = parseTemplate(template);
    assert.equal(pattern.nullable, true, template);
    assert.equal(pattern.fixed, false, template);
  }
  assert.equal(parseTemplate("/books/{id}").nullable, false);
});

Deno.test("each operator's expansion can only start with its own first character", () => {
  const starts = (template: string, char: string) =>
    parseTemplate(template).first.ascii[char.charCodeAt(0)] === 1;
  const operators: [string, string][] = [
    ["{.x}", "."],
    ["{/x}", "/"],
    ["{;x}", ";"],
    ["{?x}", "?"],
    ["{&x}", "&"],
    ["{#x}", "#"],
  ];
  for (const [template, first] of operators) {
    assert.equal(starts(template, first), true, template);
    assert.equal(starts(template, "a"), false, template);
  }
  // Simple expansion starts with a value character; reserved expansion may start with '/'.
  assert.equal(starts("{x}", "a"), true);
  assert.equal(starts("{x}", "/"), false);
  assert.equal(starts("{+x}", "/"), true);
  assert.equal(starts("{x}", "%"), true, "a percent-encoded character");
});

Deno.test("character sets hold exactly their characters, and a union holds both", () => {
  const digits = charSet("0123456789");
  const high = charSet("", true, true);
  const both = union(digits, high);
  assert.deepEqual([digits.ascii[48], digits.ascii[97], digits.high, digits.end], [
    1,
    0,
    false,
    false,
  ]);
  assert.deepEqual([both.ascii[48], both.ascii[97], both.high, both.end], [1, 0, true, true]);
  assert.equal(both.ascii.reduce((sum, flag) => sum + flag, 0), 10);
});
