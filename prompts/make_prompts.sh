#!/usr/bin/env bash
# Regenerates the shipped prompts: espeak-ng speech converted by sox to
# 8 kHz mono 16-bit PCM WAV (what Switchboard plays without resampling).
# Usage: prompts/make_prompts.sh   (needs: apt-get install espeak-ng sox)
set -euo pipefail
cd "$(dirname "$0")"
say() { # name text
  espeak-ng -v en-us -s 155 -w "/tmp/sb_$1.wav" "$2"
  sox "/tmp/sb_$1.wav" -r 8000 -c 1 -b 16 -e signed-integer "$1.wav" norm -3
  rm -f "/tmp/sb_$1.wav"
}
say welcome "Thank you for calling. Please press a digit."
say main_menu "For sales, press 1. For support, press 2. To repeat this menu, press 9."
say support_menu "For technical support, press 1. For corporate customers, press 2. To leave a message, press 0. To go back, press star."
say invalid "Sorry, that is not a valid choice."
say timeout "Sorry, we did not receive your choice."
say goodbye "Thank you for calling. Goodbye."
say you_pressed "You pressed"
say sales "Connecting you to sales."
say support "Connecting you to support."
say billing "Connecting you to billing."
say corporate "Connecting you to our corporate team."
say connecting "Please hold while we connect your call."
say closed "Our office is closed right now."
say callback_confirm "We have received your call. A manager will call you back as soon as we open."
say voicemail_greeting "Please leave a message after the tone, then press the pound key."
say transfer "Transferring your call."
say busy "All our managers are busy. Please stay on the line."
for d in 0 1 2 3 4 5 6 7 8 9; do say "digit_$d" "$d"; done
say digit_star "star"
say digit_pound "pound"
# queue announcements, the callback offer and dial-backs, managers' feature codes (issue 13)
say queue_position "You are number"
say queue_in_line "in line."
say queue_wait_less_minute "Your expected wait is less than a minute."
say queue_wait_about "Your expected wait is about"
say queue_wait_more_than "Your expected wait is more than"
say queue_minutes "minutes."
say queue_minute "minute."
say callback_offer "To be called back instead of waiting, and keep your place in line, press"
say callback_will_call "We will call you back at"
say callback_confirm_options "To confirm, press 1, or just wait. To enter another number, press 2."
say callback_confirm_only "To confirm, press 1, or just wait."
say callback_enter_number "Please enter the number we should call, then press the pound key."
say callback_number_refused "Sorry, we cannot call that number."
say callback_queued "Thank you. You keep your place in line, and we will call you back. Goodbye."
say digit_plus "plus"
say whisper_callback_for "Callback for"
say whisper_caller "The caller is"
say dialback_unreachable "The customer could not be reached. We will try again later."
say dept_sales "sales"
say dept_support "support"
say dept_corporate "corporate"
say agent_paused "You are paused."
say agent_unpaused "You are available again."
say agent_signed_in "You are signed in."
say agent_signed_out "You are signed out."
say agent_dnd_on "Do not disturb is on."
say agent_dnd_off "Do not disturb is off."
words=(zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen)
for n in $(seq 0 19); do say "num_$n" "${words[$n]}"; done
tens=([2]=twenty [3]=thirty [4]=forty [5]=fifty [6]=sixty [7]=seventy [8]=eighty [9]=ninety)
for t in 2 3 4 5 6 7 8 9; do say "num_${t}0" "${tens[$t]}"; done
# hold music: a soft two-tone chime loop, 6 s
sox -n -r 8000 -c 1 -b 16 hold_music.wav synth 6 sine 440 sine 554 remix - fade 0.2 6 0.2 vol 0.3
# beep for voicemail
sox -n -r 8000 -c 1 -b 16 beep.wav synth 0.4 sine 1000 vol 0.5
# North American ringback (440 + 480 Hz, 2 s on, 4 s off): what a caller hears while managers ring
sox -n -r 8000 -b 16 -c 1 ringback.wav synth 2 sine 440 synth 2 sine mix 480 vol 0.35 pad 0 4
