// The scoreboard: follows the hub topic games/<id> ("demo" unless ?game=<id> names another) on the
// dashboard's one stream until "game_final"; "New game" starts a fresh game under a random id (the
// hub starts a game when a subscription names its topic).

import { byId, finite, flash, formatClock, setText, text } from "./dom.js";
import { Feed } from "./feed.js";

const GAME_ID = /^[a-z0-9-]{1,64}$/;

let feed = null;

function showTeam(side, team) {
  const data = team && typeof team === "object" ? team : {};
  setText(byId(`${side}-name`), text(data.name, side === "home" ? "Home" : "Away", 40));
  const scoreElement = byId(`${side}-score`);
  const score = finite(data.score);
  const shown = score === null ? "–" : String(score);
  if (scoreElement.textContent !== shown) {
    if (scoreElement.textContent !== "–") flash(scoreElement, "flash");
    scoreElement.textContent = shown;
  }
  for (const stat of ["shots", "fouls", "timeouts"]) {
    const value = finite(data[stat]);
    setText(byId(`${side}-${stat}`), value === null ? "–" : String(value));
  }
  return score;
}

/** Shows one `game_update` / `game_final` event. */
export function showGame(data) {
  const home = showTeam("home", data.homeTeam);
  const away = showTeam("away", data.awayTeam);
  const final = data.status === "final";
  const board = byId("scoreboard");
  board.dataset.status = final ? "final" : "live";
  board.dataset.leader = home === null || away === null || home === away
    ? "tied"
    : home > away
    ? "home"
    : "away";
  const period = finite(data.period);
  setText(byId("game-period"), final ? "Final" : period === null ? "–" : `Period ${period}`);
  const timeLeft = text(data.timeLeft, "", 8);
  setText(byId("time-left"), /^\d{1,3}:\d{2}$/.test(timeLeft) ? timeLeft : "--:--");
  const badge = byId("game-status");
  setText(badge, final ? "final" : "live");
  badge.dataset.status = final ? "final" : "live";
  const play = text(data.lastPlay, "", 120);
  const at = formatClock(data.lastUpdate, "");
  setText(byId("last-play"), play ? `${play}${at ? ` · ${at}` : ""}` : "\u00a0");
}

function watch(gameId) {
  setText(byId("game-id"), gameId);
  const badge = byId("game-status");
  setText(badge, "waiting");
  badge.dataset.status = "none";
  byId("scoreboard").dataset.status = "none";
  const handlers = { game_update: showGame, game_final: showGame };
  if (feed) feed.close("closed");
  feed = new Feed("game", `games/${gameId}`, handlers, {
    finalType: "game_final",
    accepts: (data) => data.gameId === gameId,
  });
}

function newGameId() {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  return `game-${Array.from(bytes, (byte) => byte.toString(36).padStart(2, "0")).join("")}`;
}

/** Follows the page's game and wires the "New game" button. */
export function startGame() {
  const requested = new URLSearchParams(location.search).get("game");
  watch(requested && GAME_ID.test(requested) ? requested : "demo");
  byId("new-game").addEventListener("click", () => {
    for (const side of ["home", "away"]) setText(byId(`${side}-score`), "–");
    setText(byId("last-play"), "\u00a0");
    watch(newGameId());
  });
}
