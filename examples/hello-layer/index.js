// `greetings` is not in this package: it comes from the layer, under /opt/nodejs/node_modules.
const { greet } = require('greetings');

exports.handler = async (event) => ({ message: greet(event.name ?? 'World') });
