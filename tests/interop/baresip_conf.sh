#!/bin/bash
# baresip_conf.sh DIR BIND_IP SIP_PORT CTRL_PORT RTP_RANGE USER ANSWERMODE SOURCE_WAV [NET_INTERFACE]
# A headless baresip 1.0.0 config (after ../shared/peers/baresip/mkconf.sh): no sound
# card (ALSA "null"), audio source a WAV file (aufile), control over ctrl_tcp on
# 127.0.0.1:CTRL_PORT (tests/interop/baresip_ctl.py), SIP on BIND_IP:SIP_PORT.
# NET_INTERFACE defaults to BIND_IP (give "eth0" inside a network namespace).
set -eu
D=$1; BIND=$2; SIP=$3; CTRL=$4; RTP=$5; USER=$6; AM=$7; SRC=$8; NETIF=${9:-$2}
mkdir -p "$D"
cat > "$D/config" <<CFG
poll_method		epoll
net_interface		$NETIF
sip_listen		$BIND:$SIP
call_local_timeout	120
call_max_calls		4
audio_player		alsa,null
audio_alert		alsa,null
audio_source		aufile,$SRC
ausrc_srate		8000
auplay_srate		8000
ausrc_channels		1
auplay_channels		1
rtp_ports		$RTP
rtcp_mux		no
jitter_buffer_delay	1-10
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			alsa.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$CTRL
CFG
echo "<sip:$USER@$BIND:$SIP>;regint=0;answermode=$AM;audio_codecs=PCMU,PCMA;ptime=20" > "$D/accounts"
: > "$D/contacts"
