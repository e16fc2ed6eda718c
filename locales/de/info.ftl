# /info: was der Bot über sich erzählt.

cmd-info-description = Über diesen Bot: Version, Laufzeit, Last
info-title = Alastor { $version }
info-uptime = Laufzeit
info-guilds = Server
info-sessions = Spielt gerade
info-stations = Sender
info-memory = Speicher
info-latency = Gateway-Latenz
info-unknown = noch nicht gemessen
