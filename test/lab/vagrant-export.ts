// Writes vagrant/lab.json, the Vagrant lab's description, from the namespace lab's topology and
// provisioning steps: npm run vagrant:export (a unit test fails while the file is out of date).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { vagrantLabJson } from './provision.js';

const out = fileURLToPath(new URL('../../../vagrant/lab.json', import.meta.url));
writeFileSync(out, vagrantLabJson());
console.log(`wrote ${out}`);
