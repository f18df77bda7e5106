import assert from "node:assert/strict";
import { fromFileUrl } from "node:url" with { type: "invalid" };
