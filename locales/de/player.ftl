# Wiedergabe: Hinweise des Players im Kanal eines Servers und warum eine Wiedergabe nicht startete.

player-now-playing = Läuft gerade: **{ $station }**
player-now-playing-title = Läuft gerade auf **{ $station }**: { $title }
player-notice-upstream-trouble = **{ $station }** ist gerade nicht erreichbar; ich versuche es weiter.
player-notice-upstream-recovered = **{ $station }** ist wieder da.
player-notice-upstream-gave-up = **{ $station }** blieb unerreichbar, deshalb habe ich gestoppt. Versuch /radio play später noch einmal oder wähl einen anderen Sender.
player-notice-left-idle = Niemand hat zugehört, deshalb habe ich den Sprachkanal verlassen.
player-notice-disconnected = Ich wurde aus dem Sprachkanal getrennt; die Wiedergabe ist gestoppt.
player-notice-join-failed = Ich konnte <#{ $channel }> nicht betreten: { $reason }
player-notice-dave-required = Discord verlangt in diesem Kanal Ende-zu-Ende-verschlüsselte Sprache (DAVE) und hat meine Verbindung getrennt; die Wiedergabe ist gestoppt.
player-notice-voice-gave-up = Ich habe die Sprachverbindung verloren und nicht wiederbekommen ({ $reason }); die Wiedergabe ist gestoppt. Versuch /radio play später noch einmal.
player-error-unknown-station = Einen Sender „{ $station }“ kenne ich nicht.
player-error-unreachable = **{ $station }** ist gerade nicht erreichbar: { $reason }
player-error-join-failed = Ich konnte diesen Sprachkanal nicht betreten: { $reason }
player-error-not-playing = Es läuft gerade nichts.
player-error-unavailable = Die Wiedergabe ist gerade nicht verfügbar; versuch es in einer Minute noch einmal.
player-retry = Erneut versuchen
player-similar = Ähnliche Sender
