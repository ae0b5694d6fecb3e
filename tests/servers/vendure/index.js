// A minimal Vendure 3.x server for Tenon's tests: loopback only, sqljs database,
// with the B2B configuration `commerce-vendure` relies on (b2b.js).
//
// Environment: VENDURE_PORT (required), VENDURE_DATA (folder of the database file
// `vendure.sqlite`, created if missing), VENDURE_SUPERADMIN_PASSWORD (default
// `superadmin`). Telemetry is off.
process.env.VENDURE_DISABLE_TELEMETRY = 'true';
const fs = require('fs');
const path = require('path');
const { bootstrap, DefaultJobQueuePlugin, DefaultSearchPlugin, dummyPaymentHandler } = require('@vendure/core');
const { TenonB2bPlugin } = require('./b2b');

const port = Number(process.env.VENDURE_PORT);
if (!port) { console.error('VENDURE_PORT is required'); process.exit(2); }
const data = process.env.VENDURE_DATA || path.join(__dirname, 'data');
fs.mkdirSync(data, { recursive: true });

bootstrap({
  apiOptions: { port, hostname: '127.0.0.1', adminApiPath: 'admin-api', shopApiPath: 'shop-api' },
  authOptions: {
    tokenMethod: ['bearer', 'cookie'],
    superadminCredentials: {
      identifier: 'superadmin',
      password: process.env.VENDURE_SUPERADMIN_PASSWORD || 'superadmin',
    },
    cookieOptions: { secret: 'tenon-test-secret' },
    sessionDuration: '30d',
  },
  dbConnectionOptions: {
    type: 'sqljs', synchronize: true, logging: false,
    location: path.join(data, 'vendure.sqlite'), autoSave: true,
  },
  paymentOptions: { paymentMethodHandlers: [dummyPaymentHandler] },
  plugins: [DefaultJobQueuePlugin, DefaultSearchPlugin, TenonB2bPlugin],
}).catch(err => { console.error(err); process.exit(1); });
