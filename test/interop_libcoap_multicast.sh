#!/bin/sh
# Part 3 of test/interop_libcoap.sh, multicast discovery in network
# namespaces, as a test of its own: where it cannot run it is a SKIP in the
# totals, not a line inside a PASS.
exec sh "$(dirname "$0")/interop_libcoap.sh" multicast
