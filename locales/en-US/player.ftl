# Playback: notices the player posts in a server's channel, and why a play request failed.

player-now-playing = Now playing: **{ $station }**
player-now-playing-title = Now playing on **{ $station }**: { $title }
player-notice-upstream-trouble = **{ $station }** is not reachable right now; I keep trying.
player-notice-upstream-recovered = **{ $station }** is back.
player-notice-upstream-gave-up = **{ $station }** stayed unreachable, so I stopped. Try /radio play again later or pick another station.
player-notice-left-idle = Nobody was listening, so I left the voice channel.
player-notice-disconnected = I was disconnected from voice; playback stopped.
player-notice-join-failed = I couldn't join <#{ $channel }>: { $reason }
player-notice-dave-required = Discord requires end-to-end encrypted voice (DAVE) in this channel and closed my connection; playback stopped.
player-notice-voice-gave-up = I lost the voice connection and could not get it back ({ $reason }); playback stopped. Try /radio play again later.
player-error-unknown-station = I don't know a station called “{ $station }”.
player-error-unreachable = **{ $station }** isn't reachable right now: { $reason }
player-error-join-failed = I couldn't join that voice channel: { $reason }
player-error-not-playing = Nothing is playing.
player-error-unavailable = Playback is unavailable right now; try again in a minute.
player-retry = Retry
player-similar = Similar stations
