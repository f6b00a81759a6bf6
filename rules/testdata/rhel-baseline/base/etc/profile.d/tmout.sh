readonly TMOUT=900
export TMOUT
