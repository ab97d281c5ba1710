#!/bin/sh
# Install the Debian packages that the browser, desktop, bundle and PostgreSQL tests need, when
# missing (postgresql: the tests start their own throwaway cluster with its initdb and postgres).
# As root (as on CI) they are installed with apt-get; otherwise we name them and stop.
PKGS="chromium xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-cursor0 libxkbcommon-x11-0 libegl1 libgl1 libnss3 libxcomposite1 libxdamage1 libxrandr2 libxtst6 libasound2 postgresql"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian packages:$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
  echo "Missing Debian packages needed by the browser/desktop/PostgreSQL tests:$missing" >&2
  echo "Install them with: sudo apt-get install$missing" >&2
  exit 1
fi
