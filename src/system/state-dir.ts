/** ospfbond's records on the router (what was applied, what failed, what waits for a confirm). */
export const STATE_DIR = process.env.OSPFBOND_STATE_DIR ?? '/var/lib/ospfbond';
