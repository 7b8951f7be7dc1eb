import { behaviourSuite } from "./suite.ts";

behaviourSuite("bun");
