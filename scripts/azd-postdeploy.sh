#!/bin/sh
# azd postdeploy hook: the Event Grid subscriptions point at the onAzureEvent function, which exists only once
# the code is deployed. The first `azd up` provisions without them; this turns them on and provisions again.
set -eu
if [ "$(azd env get-value EAR_GUARD_EVENT_SUBSCRIPTIONS 2>/dev/null || true)" = "true" ]; then
  echo "Event Grid subscriptions already enabled."
  exit 0
fi
azd env set EAR_GUARD_EVENT_SUBSCRIPTIONS true
azd provision --no-prompt
echo "Event Grid subscriptions to onAzureEvent created."
