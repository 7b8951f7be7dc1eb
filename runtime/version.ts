/** The version of rota, printed by `rota --version`. `build.ts` refuses to build when it differs from package.json's. */
export const VERSION = "0.1.0";
