import { limitsSuite } from "./limits.ts";
import { behaviourSuite } from "./suite.ts";

behaviourSuite("node-system");
limitsSuite("node-system");
