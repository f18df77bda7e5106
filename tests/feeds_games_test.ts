import assert from "node:assert/strict";
import { type FeedEvent, seededRandom } from "../lib/feeds/feed.ts";
import {
  gameSimulation,
  isValidGameId,
  teamNamesFor,
  TIMEOUTS_PER_TEAM,
} from "../lib/feeds/games.ts";

interface TeamData {
  name: string;
  score: number;
  shots: number;
  fouls: number;
  timeouts: number;
}

/** Points a play description scores, read from its words alone. */
function pointsOf(play: string): number {
  let points = 0;
  const field = /made a ([23])-pointer/.exec(play);
  if (field) points += Number(field[1]);
  if (/and the free throw/.test(play)) points += 1;
  const freeThrows = /made (\d) of (\d) free throws/.exec(play);
  if (freeThrows) points += Number(freeThrows[1]);
  return points;
}

/** The team a play's points go to: the one named right before "made". */
function scorerOf(play: string, home: string, away: string): string | undefined {
  const scorer = [home, away].find((name) => play.includes(`${name} made`));
  return scorer;
}

const teams = (event: FeedEvent) => [event.data.homeTeam, event.data.awayTeam] as TeamData[];

Deno.test("a game's final score is the sum of the points of its made shots", async () => {
  for (const seed of [1, 2, 3]) {
    const signal = new AbortController().signal;
    const events = await Array.fromAsync(
      gameSimulation({ signal, speed: 10_000, gameId: `game-${seed}`, random: seededRandom(seed) }),
    );
    const [home, away] = teams(events[0]).map((team) => team.name);
    const scored = new Map([[home, 0], [away, 0]]);
    for (let index = 1; index < events.length; index++) {
      const play = events[index].data.lastPlay as string;
      const points = pointsOf(play);
      const deltas = teams(events[index]).map((team, side) =>
        team.score - teams(events[index - 1])[side].score
      );
      if (points > 0) {
        const scorer = scorerOf(play, home, away)!;
        scored.set(scorer, scored.get(scorer)! + points);
        assert.deepEqual(deltas, scorer === home ? [points, 0] : [0, points], play);
      } else {
        assert.deepEqual(deltas, [0, 0], play);
      }
    }
    const final = events.at(-1)!;
    assert.equal(final.type, "game_final");
    assert.equal(final.final, true);
    assert.equal(final.data.status, "final");
    assert.equal(final.data.timeLeft, "00:00");
    const [homeTeam, awayTeam] = teams(final);
    assert.deepEqual([homeTeam.score, awayTeam.score], [scored.get(home), scored.get(away)]);
    assert.notEqual(homeTeam.score, awayTeam.score);
    assert.ok((final.data.period as number) >= 4);
    assert.ok(homeTeam.score > 40 && awayTeam.score > 40, `${homeTeam.score}-${awayTeam.score}`);
    assert.ok(
      events.slice(0, -1).every((event) =>
        event.type === "game_update" && event.data.status === "live"
      ),
    );
  }
});

Deno.test("game clock, periods and counters only move forwards", async () => {
  const signal = new AbortController().signal;
  const events = await Array.fromAsync(
    gameSimulation({ signal, speed: 10_000, gameId: "g", random: seededRandom(9) }),
  );
  assert.deepEqual(events[0].data.period, 1);
  assert.equal(events[0].data.timeLeft, "12:00");
  assert.match(events[0].data.lastPlay as string, /^Tip-off won by /);
  const seconds = (event: FeedEvent) => {
    const [minutes, rest] = (event.data.timeLeft as string).split(":").map(Number);
    return minutes * 60 + rest;
  };
  for (let index = 1; index < events.length; index++) {
    const [before, after] = [events[index - 1], events[index]];
    assert.match(after.data.timeLeft as string, /^\d\d:[0-5]\d$/);
    if (after.data.period === before.data.period) {
      assert.ok(seconds(after) <= seconds(before));
    } else {
      assert.equal(after.data.period, (before.data.period as number) + 1);
      assert.equal(before.data.timeLeft, "00:00");
      assert.equal(after.data.timeLeft, after.data.period as number > 4 ? "05:00" : "12:00");
    }
    teams(after).forEach((team, side) => {
      const previous = teams(before)[side];
      assert.ok(team.shots >= previous.shots && team.fouls >= previous.fouls);
      assert.ok(team.timeouts >= previous.timeouts);
    });
    assert.equal(new Date(after.data.lastUpdate as string).toISOString(), after.data.lastUpdate);
  }
});

Deno.test("timeouts never exceed the limit even when every chance calls one", async () => {
  // random() = 0: every possession starts with a timeout while any is left, then a turnover.
  const signal = new AbortController().signal;
  const options = { signal, speed: 10_000, gameId: "timeouts", periods: 1, periodSeconds: 120 };
  const events = await Array.fromAsync(gameSimulation({ ...options, random: () => 0 }));
  for (const event of events) {
    for (const team of teams(event)) assert.ok(team.timeouts <= TIMEOUTS_PER_TEAM);
  }
  const final = events.at(-1)!;
  assert.deepEqual(teams(final).map((team) => team.timeouts), [
    TIMEOUTS_PER_TEAM,
    TIMEOUTS_PER_TEAM,
  ]);
  const calls = events.filter((event) => /called a timeout$/.test(event.data.lastPlay as string));
  assert.equal(calls.length, 2 * TIMEOUTS_PER_TEAM);
  // Nobody ever scores with these draws until the last allowed overtime forces a winner.
  assert.equal(final.type, "game_final");
  assert.equal(final.data.period, 6);
  assert.deepEqual(teams(final).map((team) => team.score).sort(), [0, 3]);
});

Deno.test("a game tied after the last period goes to a five-minute overtime", async () => {
  let found: FeedEvent[] | undefined;
  for (let seed = 1; seed <= 100 && !found; seed++) {
    const signal = new AbortController().signal;
    const options = { signal, speed: 10_000, gameId: "ot", periods: 1, periodSeconds: 30 };
    const events = await Array.fromAsync(
      gameSimulation({ ...options, random: seededRandom(seed) }),
    );
    if (events.at(-1)!.data.period === 2) found = events;
  }
  assert.ok(found, "no overtime in 100 seeded short games");
  const start = found.findIndex((event) => event.data.lastPlay === "Start of overtime");
  assert.ok(start > 0);
  const [endOfRegulation, overtime] = [found[start - 1], found[start]];
  const [home, away] = teams(endOfRegulation);
  assert.equal(home.score, away.score);
  assert.equal(endOfRegulation.data.timeLeft, "00:00");
  assert.equal(overtime.data.period, 2);
  assert.equal(overtime.data.timeLeft, "05:00");
});

Deno.test("team names come from the game id, so every producer names them alike", async () => {
  const [home, away] = teamNamesFor("cup-final");
  assert.notEqual(home, away);
  assert.deepEqual(teamNamesFor("cup-final"), [home, away]);
  const names = new Set(Array.from({ length: 50 }, (_, n) => teamNamesFor(`g-${n}`).join()));
  assert.ok(names.size > 10);
  const controller = new AbortController();
  const feed = gameSimulation({ signal: controller.signal, gameId: "cup-final" });
  const first = (await feed.next()).value as FeedEvent;
  controller.abort();
  assert.deepEqual(teams(first).map((team) => team.name), [home, away]);
  const named = gameSimulation({
    signal: controller.signal,
    gameId: "x",
    homeName: "Home",
    awayName: "Away",
  });
  assert.equal((await named.next()).done, true); // already aborted: nothing
  const fresh = new AbortController();
  const custom = gameSimulation({
    signal: fresh.signal,
    gameId: "x",
    homeName: "Home",
    awayName: "Away",
  });
  const event = (await custom.next()).value as FeedEvent;
  fresh.abort();
  assert.deepEqual(teams(event).map((team) => team.name), ["Home", "Away"]);
});

Deno.test("game ids are 1-64 lowercase letters, digits or dashes", () => {
  for (const good of ["a", "game-1", "x".repeat(64), "2024-finals"]) {
    assert.equal(isValidGameId(good), true);
  }
  for (const bad of ["", "Game", "x".repeat(65), "a_b", "a/b", "a b", "é"]) {
    assert.equal(isValidGameId(bad), false, bad);
  }
});
