/**
 * The plays of the game simulation: teams, possessions and free throws, and restoring a game from
 * a published event.
 *
 * @module
 */

/** One team's figures during a game. */
export interface Team {
  name: string;
  score: number;
  shots: number;
  fouls: number;
  timeouts: number;
  /** Fouls this period: from the fifth on, every defensive foul gives two free throws. */
  periodFouls: number;
  /** Points scored since the other team last scored. */
  run: number;
}

/** What one possession did. */
export interface Play {
  seconds: number;
  text: string;
  points: number;
  /** The offense keeps the ball (offensive rebound, non-shooting foul out of the bonus). */
  keepsBall: boolean;
}

/**
 * A team at tip-off.
 */
export const newTeam = (name: string): Team => ({
  name,
  score: 0,
  shots: 0,
  fouls: 0,
  timeouts: 0,
  periodFouls: 0,
  run: 0,
});

function freeThrows(offense: Team, attempts: number, random: () => number): [number, string] {
  let made = 0;
  for (let shot = 0; shot < attempts; shot++) if (random() < 0.77) made++;
  return [made, `${offense.name} made ${made} of ${attempts} free throws`];
}

/**
 * One possession (or part of one) of `offense`, lasting `seconds`. `ending` decides the last
 * possession of the last allowed overtime, so a game always ends: "score" (tied: the shot cannot
 * miss) or "hold" (not tied: nothing changes the score).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newTeam, playPossession } from "./game_plays.ts";
 * const play = playPossession(newTeam("A"), newTeam("B"), 12, "score", Math.random);
 * assert.equal([2, 3].includes(play.points), true); // tied at the end: the shot cannot miss
 * const ahead = { ...newTeam("A"), score: 10 };
 * const held = playPossession(ahead, newTeam("B"), 12, "hold", Math.random);
 * assert.deepEqual([held.points, held.text], [0, "A ran out the clock"]);
 * ```
 */
export function playPossession(
  offense: Team,
  defense: Team,
  seconds: number,
  ending: "score" | "hold" | undefined,
  random: () => number,
): Play {
  if (ending === "hold") {
    const text = offense.score > defense.score
      ? `${offense.name} ran out the clock`
      : `${offense.name} could not get a shot off`;
    return { seconds, text, points: 0, keepsBall: true };
  }
  const mustScore = ending === "score";
  const roll = mustScore ? 1 : random();
  if (roll < 0.13) {
    return { seconds, text: `${offense.name} turned it over`, points: 0, keepsBall: false };
  }
  if (roll < 0.28) {
    defense.fouls++;
    defense.periodFouls++;
    const shooting = roll >= 0.2;
    const attempts = shooting ? (random() < 0.15 ? 3 : 2) : defense.periodFouls > 4 ? 2 : 0;
    if (attempts === 0) {
      return { seconds, text: `${defense.name} committed a foul`, points: 0, keepsBall: true };
    }
    const [points, text] = freeThrows(offense, attempts, random);
    return { seconds, text: `${defense.name} committed a foul; ${text}`, points, keepsBall: false };
  }
  offense.shots++;
  const three = random() < 0.39;
  const kind = three ? "a 3-pointer" : "a 2-pointer";
  if (mustScore) {
    return {
      seconds,
      text: `${offense.name} made ${kind} at the buzzer`,
      points: three ? 3 : 2,
      keepsBall: false,
    };
  }
  if (random() < (three ? 0.36 : 0.52)) {
    if (random() < 0.04) {
      defense.fouls++;
      defense.periodFouls++;
      const bonus = random() < 0.77 ? 1 : 0;
      const ending = bonus ? "and the free throw" : "but missed the free throw";
      return {
        seconds,
        text: `${offense.name} made ${kind} ${ending}`,
        points: (three ? 3 : 2) + bonus,
        keepsBall: false,
      };
    }
    return {
      seconds,
      text: `${offense.name} made ${kind}`,
      points: three ? 3 : 2,
      keepsBall: false,
    };
  }
  if (random() < 0.26) {
    return {
      seconds,
      text: `${offense.name} missed ${kind} and grabbed the rebound`,
      points: 0,
      keepsBall: true,
    };
  }
  return { seconds, text: `${offense.name} missed ${kind}`, points: 0, keepsBall: false };
}

/**
 * The figures of a team that events show.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newTeam, publicTeam } from "./game_plays.ts";
 * assert.deepEqual(publicTeam(newTeam("A")), { name: "A", score: 0, shots: 0, fouls: 0, timeouts: 0 });
 * ```
 */
export function publicTeam({ name, score, shots, fouls, timeouts }: Team) {
  return { name, score, shots, fouls, timeouts };
}

/**
 * Copies the teams' figures from a published event; returns [period, clock seconds].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newTeam, restoreGame } from "./game_plays.ts";
 * const teams = [newTeam("A"), newTeam("B")];
 * const restored = restoreGame({ period: 2, timeLeft: "03:10", homeTeam: { score: 9 } }, teams);
 * assert.equal(restored?.[1], 190);
 * assert.equal(teams[0].score, 9);
 * ```
 */
export function restoreGame(
  data: Record<string, unknown>,
  teams: Team[],
): [number, number] | undefined {
  const clock = /^(\d{1,3}):(\d{2})$/.exec(String(data.timeLeft ?? ""));
  if (typeof data.period !== "number" || !clock) return undefined;
  for (const [team, key] of [[teams[0], "homeTeam"], [teams[1], "awayTeam"]] as const) {
    const from = data[key] as Partial<Record<"score" | "shots" | "fouls" | "timeouts", unknown>>;
    for (const field of ["score", "shots", "fouls", "timeouts"] as const) {
      if (typeof from?.[field] === "number") team[field] = from[field] as number;
    }
  }
  return [data.period, Number(clock[1]) * 60 + Number(clock[2])];
}
