	rm -f /etc/ssh/sshd_config.d/piprep.conf
