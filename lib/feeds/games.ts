/**
 * The live game feed: a basketball-like simulation told possession by possession, in game-clock
 * time. One real second (divided by the speed) plays about 24 s of game time, so a 48-minute game
 * takes about two minutes.
 *
 * @module
 */

import { sleep } from "../util/abortable.ts";
import { type FeedEvent, type FeedOptions, isoTime, scaledMs } from "./feed.ts";
import { newTeam, playPossession, publicTeam, restoreGame, type Team } from "./game_plays.ts";

/** Timeouts each team may call in a game. */
export const TIMEOUTS_PER_TEAM = 7;
/** Game seconds played per real second at speed 1. */
export const GAME_SECONDS_PER_SECOND = 24;
const OVERTIME_SECONDS = 300;
/** The last overtime played: its last possession cannot leave the game tied. */
const MAX_OVERTIMES = 5;
/** Real-time pauses (divided by the speed) for a timeout and between periods. */
const TIMEOUT_PAUSE_MS = 1000;
const PERIOD_BREAK_MS = 2000;

const TEAM_NAMES = [
  "Harbor Hawks",
  "Summit Bears",
  "Riverside Otters",
  "Desert Foxes",
  "Lakeside Herons",
  "Canyon Coyotes",
  "Prairie Bison",
  "Coastal Gulls",
  "Forest Lynx",
  "Metro Comets",
  "Valley Vipers",
  "Northern Owls",
];

/**
 * Whether `id` is a valid game id: 1–64 characters of `a-z`, `0-9` and `-`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidGameId } from "./games.ts";
 * assert.equal(isValidGameId("final-2024"), true);
 * assert.equal(isValidGameId("Final"), false);
 * assert.equal(isValidGameId(""), false);
 * ```
 */
export function isValidGameId(id: string): boolean {
  return /^[a-z0-9-]{1,64}$/.test(id);
}

/**
 * The default home and away team names of a game, picked by a hash (FNV-1a) of its id, so every
 * producer of the same game names the teams alike. The two names always differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { teamNamesFor } from "./games.ts";
 * const [home, away] = teamNamesFor("game-1");
 * assert.notEqual(home, away);
 * assert.equal(teamNamesFor("game-1")[0], home);
 * ```
 */
export function teamNamesFor(gameId: string): [string, string] {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(gameId)) hash = Math.imul(hash ^ byte, 0x01000193);
  hash >>>= 0;
  const home = hash % TEAM_NAMES.length;
  const away = (home + 1 + ((hash >>> 8) % (TEAM_NAMES.length - 1))) % TEAM_NAMES.length;
  return [TEAM_NAMES[home], TEAM_NAMES[away]];
}

/** Options of {@link gameSimulation}. */
export interface GameOptions extends FeedOptions {
  gameId: string;
  /** Default: picked by {@link teamNamesFor}. */
  homeName?: string;
  awayName?: string;
  /** Regulation periods. Default 4. */
  periods?: number;
  /** Length of a regulation period in game seconds. Default 720 (12 minutes). */
  periodSeconds?: number;
  /**
   * The data of the last event published for this game by a producer that died: play continues
   * from its score, fouls, timeouts, period and clock instead of a new tip-off.
   */
  resumeFrom?: Record<string, unknown>;
}

/**
 * The longest a game runs at speed 1, in ms: four 12-minute periods and every overtime of game
 * clock, every timeout and every break between periods.
 */
export const GAME_MAX_MS: number =
  ((4 * 720 + MAX_OVERTIMES * OVERTIME_SECONDS) / GAME_SECONDS_PER_SECOND) * 1000 +
  2 * TIMEOUTS_PER_TEAM * TIMEOUT_PAUSE_MS + (4 + MAX_OVERTIMES - 1) * PERIOD_BREAK_MS;

const clockText = (seconds: number) =>
  `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;

/**
 * Plays a game and yields `"game_update"` after every possession, timeout and period change —
 * `{ gameId, homeTeam, awayTeam, period, timeLeft: "MM:SS", status: "live", lastPlay, lastUpdate }`,
 * each team `{ name, score, shots (field-goal attempts), fouls, timeouts (used, at most
 * {@link TIMEOUTS_PER_TEAM}) }` — then ends with `"game_final"` (status `"final"`, `final: true`).
 * A tie after the last period brings 5-minute overtimes. Returns early when `signal` aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gameSimulation } from "./games.ts";
 * const signal = new AbortController().signal;
 * const types: string[] = [];
 * for await (const event of gameSimulation({ signal, speed: 10_000, gameId: "demo", periods: 1 })) {
 *   types.push(event.type);
 * }
 * assert.equal(types.at(-1), "game_final");
 * assert.equal(types.filter((type) => type === "game_final").length, 1);
 * ```
 */
export async function* gameSimulation(options: GameOptions): AsyncGenerator<FeedEvent> {
  const { signal, gameId } = options;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const periods = options.periods ?? 4;
  const periodSeconds = options.periodSeconds ?? 720;
  if (!Number.isInteger(periods) || periods < 1) {
    throw new RangeError("periods must be a positive integer");
  }
  if (!Number.isInteger(periodSeconds) || periodSeconds < 1) {
    throw new RangeError("periodSeconds must be a positive integer");
  }
  const wait = (realMs: number) => sleep(scaledMs(realMs, options.speed), signal);
  const [defaultHome, defaultAway] = teamNamesFor(gameId);
  const teams = [
    newTeam(options.homeName ?? defaultHome),
    newTeam(options.awayName ?? defaultAway),
  ];
  let period = 1;
  let clock = periodSeconds;
  const resumed = options.resumeFrom ? restoreGame(options.resumeFrom, teams) : undefined;
  if (resumed) [period, clock] = resumed;
  const jumpBall = random() < 0.5 ? 0 : 1;
  let offense = jumpBall;
  const snapshot = (lastPlay: string, done = false): FeedEvent => ({
    type: done ? "game_final" : "game_update",
    data: {
      gameId,
      homeTeam: publicTeam(teams[0]),
      awayTeam: publicTeam(teams[1]),
      period,
      timeLeft: clockText(clock),
      status: done ? "final" : "live",
      lastPlay,
      lastUpdate: isoTime(now()),
    },
    ...(done ? { final: true } : {}),
  });
  if (signal.aborted) return;
  yield snapshot(resumed ? "Play resumed" : `Tip-off won by ${teams[jumpBall].name}`);
  while (!signal.aborted) {
    const [attack, defend] = [teams[offense], teams[1 - offense]];
    if (attack.timeouts < TIMEOUTS_PER_TEAM && random() < 0.015) {
      yield* callTimeout(attack);
      if (!(await wait(TIMEOUT_PAUSE_MS))) return;
    }
    const seconds = Math.min(clock, 4 + Math.floor(random() * 21));
    const ending = period >= periods + MAX_OVERTIMES && seconds === clock
      ? (attack.score === defend.score ? "score" : "hold")
      : undefined;
    const play = playPossession(attack, defend, seconds, ending, random);
    if (!(await wait((play.seconds * 1000) / GAME_SECONDS_PER_SECOND))) return;
    clock -= play.seconds;
    if (play.points > 0) {
      attack.score += play.points;
      attack.run += play.points;
      defend.run = 0;
    }
    if (!play.keepsBall) offense = 1 - offense;
    if (clock > 0) {
      yield snapshot(play.text);
      // The team on the wrong end of a run stops it with a timeout, while it has one.
      if (attack.run >= 8 && defend.timeouts < TIMEOUTS_PER_TEAM && random() < 0.6) {
        yield* callTimeout(defend);
        if (!(await wait(TIMEOUT_PAUSE_MS))) return;
      }
      continue;
    }
    if (period >= periods && teams[0].score !== teams[1].score) {
      yield snapshot(play.text, true);
      return;
    }
    yield snapshot(play.text);
    if (!(await wait(PERIOD_BREAK_MS))) return;
    period++;
    clock = period > periods ? OVERTIME_SECONDS : periodSeconds;
    for (const team of teams) team.periodFouls = 0;
    offense = (jumpBall + period - 1) % 2;
    const overtime = period - periods;
    const label = overtime <= 0
      ? `period ${period}`
      : overtime === 1
      ? "overtime"
      : `overtime ${overtime}`;
    yield snapshot(`Start of ${label}`);
  }

  function* callTimeout(team: Team): Generator<FeedEvent> {
    team.timeouts++;
    for (const each of teams) each.run = 0;
    yield snapshot(`${team.name} called a timeout`);
  }
}
