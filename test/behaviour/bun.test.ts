import { limitsSuite } from "./limits.ts";
import { behaviourSuite } from "./suite.ts";

behaviourSuite("bun");
limitsSuite("bun");
